INSERT INTO {detail} (order_id, buyer_id, seller_id, status, placed_at_us, version, document,
                      content_hash, state, changed_at_us)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
ON CONFLICT (order_id) DO UPDATE
SET status = excluded.status, version = excluded.version, document = excluded.document,
    content_hash = excluded.content_hash, state = excluded.state,
    changed_at_us = excluded.changed_at_us
