-- A page of every stream of one type ($1), stream by stream in the primary key's order, after
-- the event ($2, $3) of the previous page, holding only the events at or before the log
-- checkpoint ($4, $5): the same events read_after.sql reads up to there.
SELECT aggregate_id, sequence, event_type, event_version, payload, recorded_at
FROM events
WHERE aggregate_type = $1
  AND (aggregate_type, aggregate_id, sequence) > ($1, $2, $3)
  AND (txid, position) <= ($4::text::xid8, $5)
ORDER BY aggregate_type, aggregate_id, sequence
LIMIT $6
