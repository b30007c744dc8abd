-- One page of an owner's orders, newest first, after the cursor (placed_at_us, order_id).
-- {list} is the detail view or the archive, {owner} its buyer_id or seller_id: each has an
-- index on ({owner}, placed_at_us DESC, order_id DESC) (ADR 13).
SELECT state, content_hash, version, placed_at_us, order_id
FROM {list}
WHERE {owner} = $1
  AND (CAST($2 AS text) IS NULL OR status = $2)
  AND (placed_at_us < CAST($3 AS bigint) OR (placed_at_us = CAST($3 AS bigint) AND order_id < $4))
ORDER BY placed_at_us DESC, order_id DESC
LIMIT $5
