SELECT position, aggregate_type, aggregate_id, sequence, event_type, event_version, payload,
       metadata, recorded_at
FROM events
WHERE aggregate_type = ? AND aggregate_id IN (SELECT value FROM json_each(?))
ORDER BY aggregate_id, sequence
