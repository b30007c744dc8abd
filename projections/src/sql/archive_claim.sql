-- A batch's first statement: it locks the progress row, so archivers (a server's and
-- `orders archive`) take turns, and on SQLite it takes the write lock at once instead of
-- failing to upgrade a read later.
UPDATE archive_progress SET ran_at_us = $2 WHERE archive = $1
RETURNING changed_at_us, order_id, batches, orders
