-- The cold archive of the order views: the same tables as on PostgreSQL (see the PostgreSQL
-- migration of the same number and docs/adr/0011-cold-archive.md), with JSON as text.

-- SQLite cannot add a NOT NULL column without a default, nor drop one later; the one writer
-- (upsert_detail.sql) always sets it
ALTER TABLE order_detail ADD COLUMN changed_at_us integer NOT NULL DEFAULT 0;
UPDATE order_detail
SET changed_at_us = coalesce((SELECT CAST(strftime('%s', max(e.recorded_at)) AS integer) * 1000000
                                         + CAST(substr(strftime('%f', max(e.recorded_at)), 4, 3) AS integer) * 1000
                              FROM events e
                              WHERE e.aggregate_type = 'Order' AND e.aggregate_id = order_detail.order_id), 0);

CREATE INDEX order_detail_archivable ON order_detail (changed_at_us, order_id)
    WHERE status IN ('Completed', 'Cancelled', 'Refunded');

CREATE TABLE order_archive
(
    order_id       text PRIMARY KEY,
    buyer_id       text    NOT NULL,
    seller_id      text    NOT NULL,
    status         text    NOT NULL,
    placed_at_us   integer NOT NULL,
    version        integer NOT NULL,
    document       text    NOT NULL,
    content_hash   text    NOT NULL,
    state          text    NOT NULL,
    updated_at     text    NOT NULL,
    changed_at_us  integer NOT NULL,
    archived_at_us integer NOT NULL
) STRICT;
CREATE INDEX order_archive_buyer ON order_archive (buyer_id, placed_at_us DESC, order_id DESC);
CREATE INDEX order_archive_seller ON order_archive (seller_id, placed_at_us DESC, order_id DESC);

CREATE TABLE archive_progress
(
    archive       text PRIMARY KEY,
    changed_at_us integer NOT NULL CHECK (changed_at_us >= 0),
    order_id      text    NOT NULL,
    batches       integer NOT NULL CHECK (batches >= 0),
    orders        integer NOT NULL CHECK (orders >= 0),
    ran_at_us     integer NOT NULL
) STRICT;
INSERT INTO archive_progress (archive, changed_at_us, order_id, batches, orders, ran_at_us)
VALUES ('orders', 0, '', 0, 0, 0);
