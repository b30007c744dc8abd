-- Claims the provider's transaction $1 for the order $2; a transaction claimed before keeps
-- its order. Followed by txn_order.sql, which answers whose it is.
INSERT INTO payment_txns (txn_id, order_id) VALUES ($1, $2)
ON CONFLICT (txn_id) DO NOTHING
