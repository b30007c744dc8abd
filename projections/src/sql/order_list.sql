-- One page of an owner's orders, newest first, after the cursor (placed_at_us, order_id), with
-- their documents from the detail view (a list holds none, ADR 12).
SELECT d.document, l.content_hash, l.version, l.placed_at_us, l.order_id
FROM {list} l
         JOIN {detail} d ON d.order_id = l.order_id
WHERE l.{owner} = $1
  AND (CAST($2 AS text) IS NULL OR l.status = $2)
  AND (l.placed_at_us < CAST($3 AS bigint)
    OR (l.placed_at_us = CAST($3 AS bigint) AND l.order_id < $4))
ORDER BY l.placed_at_us DESC, l.order_id DESC
LIMIT $5
