-- {list} is buyer_orders or seller_orders, {owner} its buyer_id or seller_id
INSERT INTO {list} ({owner}, order_id, status, placed_at_us, version, document, content_hash)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT ({owner}, order_id) DO UPDATE
SET status = excluded.status, version = excluded.version, document = excluded.document,
    content_hash = excluded.content_hash
