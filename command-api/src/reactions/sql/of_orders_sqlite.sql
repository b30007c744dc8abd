-- The rows of the order ids in $1 (a JSON array).
SELECT order_id, aggregate_type, stream_id, reserved_at_ms FROM open_reservations
WHERE order_id IN (SELECT value FROM json_each($1))
ORDER BY order_id, stream_id
