-- Leases the lowest worker id that was never leased or whose lease expired, in one statement.
-- Two acquirers that pick the same candidate collide on the primary key: the loser's
-- ON CONFLICT re-reads the committed row, finds the lease live and returns no row, and the
-- caller tries again. A takeover keeps last_ms: the new owner starts after it.
-- $1 worker id count, $2 owner, $3 token, $4 TTL in ms
WITH candidate AS (
    SELECT w.worker_id
    FROM generate_series(0, $1::integer - 1) AS w (worker_id)
    LEFT JOIN id_worker_leases held ON held.worker_id = w.worker_id
    WHERE held.worker_id IS NULL OR held.expires_at < now()
    ORDER BY w.worker_id
    LIMIT 1
)
INSERT INTO id_worker_leases AS lease (worker_id, owner, token, expires_at, last_ms)
SELECT worker_id, $2, $3, now() + $4::bigint * interval '1 millisecond', 0
FROM candidate
ON CONFLICT (worker_id) DO UPDATE
    SET owner = excluded.owner, token = excluded.token, expires_at = excluded.expires_at
    WHERE lease.expires_at < now()
RETURNING worker_id, last_ms
