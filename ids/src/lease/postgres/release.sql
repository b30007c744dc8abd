-- Ends a lease on shutdown: the row is free at once, and last_ms is the time of the last id
-- actually issued, so the next owner need not wait for the promise it made while issuing.
-- $1 worker id, $2 token, $3 last issued ms
UPDATE id_worker_leases
SET expires_at = 'epoch', last_ms = $3
WHERE worker_id = $1 AND token = $2
