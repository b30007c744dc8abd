-- The cold archive of the order views (docs/adr/0011-cold-archive.md). Orders in a settled
-- status whose last event is older than a threshold move, in batches, from the hot views
-- (order_detail, buyer_orders, seller_orders) to order_archive; each batch writes its
-- high-water mark to archive_progress in the same transaction as the rows it moves. A later
-- event for an archived order brings it back to the hot views (the projection runner), so an
-- order is always in exactly one place. Events never move: the log keeps every order, so an
-- archived order's id is never issued or used again.

-- when the order last changed: its latest event's recorded_at, in microseconds since the
-- epoch (the archive threshold applies to it); backfilled from the log for existing rows
ALTER TABLE order_detail ADD COLUMN changed_at_us bigint NOT NULL DEFAULT 0;
UPDATE order_detail d
SET changed_at_us = coalesce((SELECT CAST(floor(extract(epoch FROM max(e.recorded_at)) * 1000000) AS bigint)
                              FROM events e
                              WHERE e.aggregate_type = 'Order' AND e.aggregate_id = d.order_id), 0);
-- every write names it (upsert_detail.sql): no default that would make a row look ancient
ALTER TABLE order_detail ALTER COLUMN changed_at_us DROP DEFAULT;

-- the archiver's candidates, oldest change first; the statuses are ARCHIVED_STATUSES in
-- projections/src/archive.rs
CREATE INDEX order_detail_archivable ON order_detail (changed_at_us, order_id)
    WHERE status IN ('Completed', 'Cancelled', 'Refunded');

-- the order detail's columns, plus when the row was archived
CREATE TABLE order_archive
(
    order_id       text PRIMARY KEY,
    buyer_id       text        NOT NULL,
    seller_id      text        NOT NULL,
    status         text        NOT NULL,
    placed_at_us   bigint      NOT NULL,
    version        bigint      NOT NULL,
    document       jsonb       NOT NULL,
    content_hash   text        NOT NULL,
    state          jsonb       NOT NULL,
    updated_at     timestamptz NOT NULL,
    changed_at_us  bigint      NOT NULL,
    archived_at_us bigint      NOT NULL
);
-- a buyer's and a seller's archived orders, newest first (the lists' keyset pagination)
CREATE INDEX order_archive_buyer ON order_archive (buyer_id, placed_at_us DESC, order_id DESC);
CREATE INDEX order_archive_seller ON order_archive (seller_id, placed_at_us DESC, order_id DESC);

-- One row: how far the archive has got. The mark is the (changed_at_us, order_id) of the
-- newest order any batch moved; batches and orders count what the batches did.
CREATE TABLE archive_progress
(
    archive       text PRIMARY KEY,
    changed_at_us bigint NOT NULL CHECK (changed_at_us >= 0),
    order_id      text   NOT NULL,
    batches       bigint NOT NULL CHECK (batches >= 0),
    orders        bigint NOT NULL CHECK (orders >= 0),
    -- when a batch last ran (microseconds since the epoch, the archiver's clock)
    ran_at_us     bigint NOT NULL
);
INSERT INTO archive_progress (archive, changed_at_us, order_id, batches, orders, ran_at_us)
VALUES ('orders', 0, '', 0, 0, 0);
