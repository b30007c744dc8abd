-- The rows of the order ids in $1 (a JSON array): the ids as an array, so that each is a probe
-- of the primary key.
SELECT order_id, aggregate_type, stream_id, reserved_at_ms FROM open_reservations
WHERE order_id = ANY (ARRAY(SELECT json_array_elements_text(CAST($1 AS json))))
ORDER BY order_id, stream_id
