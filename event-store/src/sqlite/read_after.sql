-- One write transaction runs at a time and sets positions inside it: position order is commit
-- order, and a reader's snapshot always holds a prefix of it.
SELECT position, aggregate_type, aggregate_id, sequence, event_type, event_version, payload,
       metadata, recorded_at
FROM events
WHERE position > ?
ORDER BY position
LIMIT ?
