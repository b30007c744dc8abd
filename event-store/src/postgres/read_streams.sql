-- The ids as an array (evaluated once), so every stream is an index probe: with `IN (SELECT
-- ...)` the planner may hash-join every stream of the type instead.
SELECT position, txid::text AS txid_text, aggregate_type, aggregate_id, sequence, event_type,
       event_version, payload::text AS payload, metadata, recorded_at
FROM events
WHERE aggregate_type = $1
  AND aggregate_id = ANY (ARRAY(SELECT json_array_elements_text(CAST($2 AS json))))
ORDER BY aggregate_id, sequence
