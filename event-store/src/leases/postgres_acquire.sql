-- Takes or renews lease $1 for holder $2 for $3 ms: a free or expired lease is taken, the
-- holder's own is renewed (keeping when it was taken), another's live lease is left alone
-- and no row comes back.
INSERT INTO leases AS lease (name, holder, acquired_at, expires_at)
VALUES ($1, $2, now(), now() + $3::bigint * interval '1 millisecond')
ON CONFLICT (name) DO UPDATE
    SET holder      = excluded.holder,
        acquired_at = CASE WHEN lease.holder = excluded.holder
                           THEN lease.acquired_at ELSE excluded.acquired_at END,
        expires_at  = excluded.expires_at
    WHERE lease.holder = excluded.holder OR lease.expires_at < now()
RETURNING name
