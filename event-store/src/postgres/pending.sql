-- How far a reader at a checkpoint is behind: the events read_after.sql would return (at most
-- $3), counted, and when the oldest of them was recorded. No payload is read.
SELECT count(*) AS pending, min(recorded_at) AS oldest
FROM (
    SELECT recorded_at
    FROM events
    WHERE (txid, position) > ($1::text::xid8, $2)
      AND txid < (SELECT log_horizon())
    ORDER BY txid, position
    LIMIT $3
) AS ahead
