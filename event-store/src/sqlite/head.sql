-- The newest event: position order is commit order (read_after.sql).
SELECT position
FROM events
ORDER BY position DESC
LIMIT 1
