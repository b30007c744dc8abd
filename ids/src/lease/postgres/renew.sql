-- Extends a lease still held under this token (expired or not, as long as nobody took it
-- over) and raises its last_ms promise; never lowers it.
-- $1 worker id, $2 token, $3 TTL in ms, $4 last_ms promise
UPDATE id_worker_leases
SET expires_at = now() + $3::bigint * interval '1 millisecond',
    last_ms    = greatest(last_ms, $4)
WHERE worker_id = $1 AND token = $2
