-- Records a batch's reservations, $1 a JSON array of {order_id, sku, reserved_at_ms}; a row
-- already there is kept (the reaction handles an event at least once). `WHERE true` lets
-- SQLite parse the upsert after a SELECT.
INSERT INTO open_reservations (order_id, sku, reserved_at_ms)
SELECT json_extract(value, '$.order_id'), json_extract(value, '$.sku'),
       json_extract(value, '$.reserved_at_ms')
FROM json_each($1) WHERE true
ON CONFLICT (order_id, sku) DO NOTHING
