-- The seller view (ADR 45): with shards, a seller's orders are kept in the database of the
-- seller's gene, copied there from the order detail view of the buyer's database by the
-- `sellers` follower of each shard's log, so that a seller's list is read from one database.
-- A row is the detail row as it was copied (an older version never overwrites a newer one),
-- with the seller's gene, by which a move of genes copies and cleans up sellers' rows. One
-- database without shards lists a seller's orders from the detail view's index (ADR 13) and
-- leaves this table empty; SQLite is one database and has no such table.
CREATE TABLE seller_orders
(
    order_id      text COLLATE "C" PRIMARY KEY,
    buyer_id      text COLLATE "C" NOT NULL,
    seller_id     text COLLATE "C" NOT NULL,
    seller_gene   smallint NOT NULL CHECK (seller_gene >= 0 AND seller_gene < 1024),
    status        text     NOT NULL,
    placed_at_us  bigint   NOT NULL,
    version       bigint   NOT NULL,
    content_hash  text     NOT NULL,
    state         text     NOT NULL,
    changed_at_us bigint   NOT NULL
);

-- a seller's orders, newest first (keyset pagination on placed_at_us, order_id)
CREATE INDEX seller_orders_list ON seller_orders (seller_id, placed_at_us DESC, order_id DESC);
