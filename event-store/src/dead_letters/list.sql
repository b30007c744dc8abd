-- The parked events, oldest first; of one follower, or of all when $1 is NULL; only those
-- asked to be run again when $2.
SELECT id, follower, txid, position, aggregate_type, aggregate_id, sequence, event_type, error,
       attempts, parked_at_ms, retry_requested
FROM dead_letters
WHERE ($1 IS NULL OR follower = $1) AND (NOT $2 OR retry_requested)
ORDER BY id
