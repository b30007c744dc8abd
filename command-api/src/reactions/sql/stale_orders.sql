-- Up to $2 order ids holding a reservation made at or before $1 (Unix ms), oldest first: the
-- age index finds them without reading the rest of the table.
SELECT order_id FROM open_reservations WHERE reserved_at_ms <= $1
GROUP BY order_id ORDER BY min(reserved_at_ms), order_id LIMIT $2
