-- Removes the reservations that ended or that a placed order holds, $1 a JSON array of
-- {order_id, sku}.
DELETE FROM open_reservations WHERE (order_id, sku) IN
    (SELECT json_extract(value, '$.order_id'), json_extract(value, '$.sku') FROM json_each($1))
