-- Records a batch's deadlines, one array a column ($1 order ids, $2 due times in ms, $3 trade
-- numbers, $4 amounts in cents); a deadline already recorded for its order is kept as it is.
--
-- Arrays rather than a JSON array of rows: `json_to_recordset` builds a hash table for each row
-- it reads, which made this insert cost about as much per order as the append of its events.
INSERT INTO payment_deadlines (order_id, due_at_ms, trade_no, amount_cents)
SELECT order_id, due_at_ms, trade_no, amount_cents
FROM UNNEST($1::text[], $2::bigint[], $3::text[], $4::bigint[])
         AS r(order_id, due_at_ms, trade_no, amount_cents)
ON CONFLICT (order_id) DO NOTHING
RETURNING order_id
