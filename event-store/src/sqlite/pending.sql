-- How far a reader at a checkpoint is behind: the events read_after.sql would return (at most
-- ?2), counted, and when the oldest of them was recorded. No payload is read.
SELECT (SELECT count(*) FROM (SELECT 1 FROM events WHERE position > ?1 ORDER BY position LIMIT ?2))
           AS pending,
       (SELECT recorded_at FROM events WHERE position > ?1 ORDER BY position LIMIT 1) AS oldest
