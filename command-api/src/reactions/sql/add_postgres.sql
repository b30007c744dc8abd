-- Records a batch's reservations, one array a column ($1 order ids, $2 SKUs, $3 reservation
-- times in ms: json_to_recordset builds a hash table per row it reads, arrays cost a third of
-- it); a row already there is kept (the reaction handles an event at least once).
INSERT INTO open_reservations (order_id, sku, reserved_at_ms)
SELECT order_id, sku, reserved_at_ms
FROM UNNEST($1::text[], $2::text[], $3::bigint[]) AS r(order_id, sku, reserved_at_ms)
ON CONFLICT (order_id, sku) DO NOTHING
