-- How many orders archive_pick.sql would pick with a cutoff of $1 and no limit: the total a
-- run's progress counts towards (the partial index order_detail_archivable answers it).
SELECT count(*) AS archivable
FROM {detail}
WHERE status IN ('Completed', 'Cancelled', 'Refunded') AND changed_at_us < $1
