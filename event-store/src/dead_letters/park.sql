-- Parks an event for a follower; parking it again (after a failed retry) updates the error.
INSERT INTO dead_letters (follower, txid, position, aggregate_type, aggregate_id, sequence,
                          event_type, error, attempts, parked_at_ms)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
ON CONFLICT (follower, position) DO UPDATE
SET error = excluded.error, attempts = dead_letters.attempts + excluded.attempts,
    retry_requested = FALSE
