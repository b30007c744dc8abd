-- Leases the lowest worker id that was never leased or whose lease expired, in one statement
-- (see the PostgreSQL twin; SQLite runs one writer at a time, the conflict clause is what
-- would keep it right otherwise). A takeover keeps last_ms: the new owner starts after it.
-- $1 worker id count, $2 owner, $3 token, $4 TTL as a date modifier ('+30.000 seconds')
WITH RECURSIVE worker_ids (worker_id) AS (
    SELECT 0
    UNION ALL
    SELECT worker_id + 1 FROM worker_ids WHERE worker_id + 1 < $1
)
INSERT INTO id_worker_leases (worker_id, owner, token, expires_at, last_ms)
SELECT w.worker_id, $2, $3, strftime('%Y-%m-%dT%H:%M:%fZ', 'now', $4), 0
FROM worker_ids AS w
LEFT JOIN id_worker_leases AS held ON held.worker_id = w.worker_id
WHERE held.worker_id IS NULL OR held.expires_at < strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
ORDER BY w.worker_id
LIMIT 1
ON CONFLICT (worker_id) DO UPDATE
    SET owner = excluded.owner, token = excluded.token, expires_at = excluded.expires_at
    WHERE id_worker_leases.expires_at < strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
RETURNING worker_id, last_ms
