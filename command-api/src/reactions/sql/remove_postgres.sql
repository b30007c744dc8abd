-- Removes the reservations ($1 order ids, $2 holding streams' ids, pairwise, as arrays) that
-- ended or that a placed order holds: one probe of the primary key per pair.
DELETE FROM open_reservations o
USING UNNEST($1::text[], $2::text[]) AS r(order_id, stream_id)
WHERE o.order_id = r.order_id AND o.stream_id = r.stream_id
