-- The order the provider's transaction $1 was claimed for.
SELECT order_id FROM payment_txns WHERE txn_id = $1
