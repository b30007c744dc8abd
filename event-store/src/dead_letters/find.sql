SELECT id, follower, txid, position, aggregate_type, aggregate_id, sequence, event_type, error,
       attempts, parked_at_ms, retry_requested
FROM dead_letters
WHERE id = $1
