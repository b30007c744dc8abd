-- Records a batch's deadlines, given as a JSON array of rows in $1; a deadline already
-- recorded for its order is kept as it is. (`WHERE true` lets SQLite parse the upsert after a
-- SELECT.)
INSERT INTO payment_deadlines (order_id, due_at_ms, trade_no, amount_cents)
SELECT json_extract(value, '$.order_id'), json_extract(value, '$.due_at_ms'),
       json_extract(value, '$.trade_no'), json_extract(value, '$.amount_cents')
FROM json_each($1)
WHERE true
ON CONFLICT (order_id) DO NOTHING
RETURNING order_id
