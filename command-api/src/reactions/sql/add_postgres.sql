-- Records a batch's reservations, one array a column ($1 order ids, $2 holding streams' types,
-- $3 their ids, $4 reservation times in ms: json_to_recordset builds a hash table per row it
-- reads, arrays cost a third of it); a row already there is kept (the reaction handles an
-- event at least once).
INSERT INTO open_reservations (order_id, aggregate_type, stream_id, reserved_at_ms)
SELECT order_id, aggregate_type, stream_id, reserved_at_ms
FROM UNNEST($1::text[], $2::text[], $3::text[], $4::bigint[])
         AS r(order_id, aggregate_type, stream_id, reserved_at_ms)
ON CONFLICT (order_id, stream_id) DO NOTHING
