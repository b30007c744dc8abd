-- Claims the provider's transaction $1 for the order $2 and answers the order it belongs to:
-- a transaction claimed before keeps its order (the no-op update makes the row come back, in
-- the same round trip).
INSERT INTO payment_txns (txn_id, order_id) VALUES ($1, $2)
ON CONFLICT (txn_id) DO UPDATE SET order_id = payment_txns.order_id
RETURNING order_id
