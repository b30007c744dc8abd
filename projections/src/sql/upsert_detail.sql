-- Writes a batch's orders (one row per order, {order_rows}: on PostgreSQL an array a column,
-- $1 to $9; on SQLite $1, a JSON array of rows) to the detail view.
INSERT INTO {detail} (order_id, buyer_id, seller_id, status, placed_at_us, version,
                      content_hash, state, changed_at_us)
SELECT order_id, buyer_id, seller_id, status, placed_at_us, version, content_hash, state,
       changed_at_us
FROM {order_rows}
WHERE true
ON CONFLICT (order_id) DO UPDATE
SET status = excluded.status, version = excluded.version,
    content_hash = excluded.content_hash, state = excluded.state,
    changed_at_us = excluded.changed_at_us
