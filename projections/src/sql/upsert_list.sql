-- Writes a batch's orders ($1: a JSON array of rows, one per order) to a list view.
-- {list} is buyer_orders or seller_orders, {owner} its buyer_id or seller_id; the document
-- stays in the detail view (ADR 12).
INSERT INTO {list} ({owner}, order_id, status, placed_at_us, version, content_hash)
SELECT {owner}, order_id, status, placed_at_us, version, content_hash
FROM {order_rows}
WHERE true
ON CONFLICT ({owner}, order_id) DO UPDATE
SET status = excluded.status, version = excluded.version, content_hash = excluded.content_hash
