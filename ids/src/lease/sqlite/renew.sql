-- Extends a lease still held under this token and raises its last_ms promise; never lowers it.
-- $1 worker id, $2 token, $3 TTL as a date modifier, $4 last_ms promise
UPDATE id_worker_leases
SET expires_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', $3),
    last_ms    = max(last_ms, $4)
WHERE worker_id = $1 AND token = $2
