-- A page of every stream of one type (?1), stream by stream, after the event (?2, ?3) of the
-- previous page, holding only the events at or before position ?4.
SELECT aggregate_id, sequence, event_type, event_version, payload, recorded_at
FROM events
WHERE aggregate_type = ?1
  AND (aggregate_id, sequence) > (?2, ?3)
  AND position <= ?4
ORDER BY aggregate_id, sequence
LIMIT ?5
