-- The batch's high-water mark and counts, in the same transaction as the rows it moved
UPDATE archive_progress
SET changed_at_us = $2, order_id = $3, batches = batches + 1, orders = orders + $4
WHERE archive = $1
