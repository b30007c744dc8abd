-- Ends a lease on shutdown: free at once, last_ms = the time of the last id actually issued.
-- $1 worker id, $2 token, $3 last issued ms
UPDATE id_worker_leases
SET expires_at = '1970-01-01T00:00:00.000Z', last_ms = $3
WHERE worker_id = $1 AND token = $2
