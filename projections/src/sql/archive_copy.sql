-- Copies the picked orders ($1, a JSON array of ids) to the archive. A copy already there
-- (which only a fault could leave) is replaced unless it is the newer one.
INSERT INTO {archive} (order_id, buyer_id, seller_id, status, placed_at_us, version,
                       content_hash, state, updated_at, changed_at_us, archived_at_us)
SELECT order_id, buyer_id, seller_id, status, placed_at_us, version, content_hash, state,
       updated_at, changed_at_us, CAST($2 AS bigint)
FROM {detail}
WHERE order_id {in_ids}
ON CONFLICT (order_id) DO UPDATE
SET buyer_id = excluded.buyer_id, seller_id = excluded.seller_id, status = excluded.status,
    placed_at_us = excluded.placed_at_us, version = excluded.version,
    content_hash = excluded.content_hash, state = excluded.state,
    updated_at = excluded.updated_at, changed_at_us = excluded.changed_at_us,
    archived_at_us = excluded.archived_at_us
WHERE excluded.version >= {archive}.version
