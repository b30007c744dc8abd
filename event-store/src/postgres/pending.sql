-- How far a reader at a checkpoint is behind: the committed events after it (at most $3),
-- counted, and when the oldest of them was recorded. No payload is read. Unlike
-- read_after.sql, this does not stop at the readers' horizon: events that wait behind a
-- running append count, so that a stall shows as lag.
SELECT count(*) AS pending, min(recorded_at) AS oldest
FROM (
    SELECT recorded_at
    FROM events
    WHERE (txid, position) > ($1::text::xid8, $2)
    ORDER BY txid, position
    LIMIT $3
) AS ahead
