-- The newest event committed now, past the readers' horizon too (unlike head.sql): every event
-- whose transaction committed before this statement began sorts at or before it.
SELECT txid::text AS txid_text, position
FROM events
ORDER BY txid DESC, position DESC
LIMIT 1
