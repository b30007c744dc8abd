-- Read models (the projections crate owns them); the same tables as on PostgreSQL, with JSON
-- stored as text. See the PostgreSQL migration of the same number for what each holds.

CREATE TABLE projection_checkpoints
(
    projection text PRIMARY KEY,
    txid       integer NOT NULL CHECK (txid >= 0),
    position   integer NOT NULL CHECK (position >= 0),
    updated_at text    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;

CREATE TABLE order_detail
(
    order_id     text PRIMARY KEY,
    buyer_id     text    NOT NULL,
    seller_id    text    NOT NULL,
    status       text    NOT NULL,
    placed_at_us integer NOT NULL,
    version      integer NOT NULL,
    document     text    NOT NULL,
    content_hash text    NOT NULL,
    state        text    NOT NULL,
    updated_at   text    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;

CREATE TABLE buyer_orders
(
    buyer_id     text    NOT NULL,
    order_id     text    NOT NULL,
    status       text    NOT NULL,
    placed_at_us integer NOT NULL,
    version      integer NOT NULL,
    document     text    NOT NULL,
    content_hash text    NOT NULL,
    PRIMARY KEY (buyer_id, order_id)
) STRICT;
CREATE INDEX buyer_orders_newest ON buyer_orders (buyer_id, placed_at_us DESC, order_id DESC);

CREATE TABLE seller_orders
(
    seller_id    text    NOT NULL,
    order_id     text    NOT NULL,
    status       text    NOT NULL,
    placed_at_us integer NOT NULL,
    version      integer NOT NULL,
    document     text    NOT NULL,
    content_hash text    NOT NULL,
    PRIMARY KEY (seller_id, order_id)
) STRICT;
CREATE INDEX seller_orders_newest ON seller_orders (seller_id, placed_at_us DESC, order_id DESC);

CREATE TABLE sku_stock
(
    sku       text PRIMARY KEY,
    seller_id text    NOT NULL,
    available integer NOT NULL CHECK (available >= 0),
    reserved  integer NOT NULL CHECK (reserved >= 0),
    sold      integer NOT NULL CHECK (sold >= 0),
    version   integer NOT NULL
) STRICT;
