-- A replay's list view, filled from the detail view it has rebuilt: one row per order.
INSERT INTO {list} ({owner}, order_id, status, placed_at_us, version, content_hash)
SELECT {owner}, order_id, status, placed_at_us, version, content_hash
FROM {detail}
