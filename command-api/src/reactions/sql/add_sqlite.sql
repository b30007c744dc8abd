-- Records a batch's reservations, $1 a JSON array of {order_id, holder, stream_id,
-- reserved_at_ms}; a row already there is kept (the reaction handles an event at least once).
-- `WHERE true` lets SQLite parse the upsert after a SELECT.
INSERT INTO open_reservations (order_id, aggregate_type, stream_id, reserved_at_ms)
SELECT json_extract(value, '$.order_id'), json_extract(value, '$.holder'),
       json_extract(value, '$.stream_id'), json_extract(value, '$.reserved_at_ms')
FROM json_each($1) WHERE true
ON CONFLICT (order_id, stream_id) DO NOTHING
