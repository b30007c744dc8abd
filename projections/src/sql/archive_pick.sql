-- Up to $2 orders in a settled status (ARCHIVED_STATUSES in archive.rs, the partial index
-- order_detail_archivable) whose last change is before $1, oldest change first. On PostgreSQL
-- the rows are locked, and a row that a projection batch holds is skipped (SKIP LOCKED):
-- that order is changing, so it stays hot.
SELECT order_id, changed_at_us
FROM {detail}
WHERE status IN ('Completed', 'Cancelled', 'Refunded') AND changed_at_us < $1
ORDER BY changed_at_us, order_id
LIMIT $2{skip_locked}
