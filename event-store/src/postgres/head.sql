-- The newest event a reader of the log may see now: the last below the transaction horizon
-- (read_after.sql's rule), so that every event at or before it has committed.
SELECT txid::text AS txid_text, position
FROM events
WHERE txid < (SELECT log_horizon(pg_current_snapshot()))
ORDER BY txid DESC, position DESC
LIMIT 1
