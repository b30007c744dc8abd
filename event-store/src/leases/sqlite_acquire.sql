-- Takes or renews lease $1 for holder $2 (see the PostgreSQL twin); $3 is the TTL as a date
-- modifier ('+5.000 seconds').
INSERT INTO leases (name, holder, acquired_at, expires_at)
VALUES ($1, $2, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), strftime('%Y-%m-%dT%H:%M:%fZ', 'now', $3))
ON CONFLICT (name) DO UPDATE
    SET holder      = excluded.holder,
        acquired_at = CASE WHEN leases.holder = excluded.holder
                           THEN leases.acquired_at ELSE excluded.acquired_at END,
        expires_at  = excluded.expires_at
    WHERE leases.holder = excluded.holder
       OR leases.expires_at < strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
RETURNING name
