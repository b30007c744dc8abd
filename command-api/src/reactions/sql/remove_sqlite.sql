-- Removes the reservations that ended or that a placed order holds, $1 a JSON array of
-- {order_id, stream_id}.
DELETE FROM open_reservations WHERE (order_id, stream_id) IN
    (SELECT json_extract(value, '$.order_id'), json_extract(value, '$.stream_id')
     FROM json_each($1))
