-- Read models (the projections crate owns them). Each projection keeps its checkpoint in
-- projection_checkpoints, written in the same transaction as its rows, so every event takes
-- effect exactly once. Queryable fields are columns; the rest of an order is a JSON document
-- plus its content hash, so that copies of one order in different views compare cheaply.

CREATE TABLE projection_checkpoints
(
    projection text PRIMARY KEY,
    txid       bigint      NOT NULL CHECK (txid >= 0),
    position   bigint      NOT NULL CHECK (position >= 0),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- order detail: one row per order; `state` is the Order aggregate the next event applies to
CREATE TABLE order_detail
(
    order_id     text PRIMARY KEY,
    buyer_id     text        NOT NULL,
    seller_id    text        NOT NULL,
    status       text        NOT NULL,
    placed_at_us bigint      NOT NULL,
    version      bigint      NOT NULL,
    document     jsonb       NOT NULL,
    content_hash text        NOT NULL,
    state        jsonb       NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now()
);

-- a buyer's orders, newest first (keyset pagination on placed_at_us, order_id)
CREATE TABLE buyer_orders
(
    buyer_id     text   NOT NULL,
    order_id     text   NOT NULL,
    status       text   NOT NULL,
    placed_at_us bigint NOT NULL,
    version      bigint NOT NULL,
    document     jsonb  NOT NULL,
    content_hash text   NOT NULL,
    PRIMARY KEY (buyer_id, order_id)
);
CREATE INDEX buyer_orders_newest ON buyer_orders (buyer_id, placed_at_us DESC, order_id DESC);

-- a seller's orders, the same shape
CREATE TABLE seller_orders
(
    seller_id    text   NOT NULL,
    order_id     text   NOT NULL,
    status       text   NOT NULL,
    placed_at_us bigint NOT NULL,
    version      bigint NOT NULL,
    document     jsonb  NOT NULL,
    content_hash text   NOT NULL,
    PRIMARY KEY (seller_id, order_id)
);
CREATE INDEX seller_orders_newest ON seller_orders (seller_id, placed_at_us DESC, order_id DESC);

-- stock per SKU; the checks make "no stock below zero" a property of the table
CREATE TABLE sku_stock
(
    sku       text PRIMARY KEY,
    seller_id text   NOT NULL,
    available bigint NOT NULL CHECK (available >= 0),
    reserved  bigint NOT NULL CHECK (reserved >= 0),
    sold      bigint NOT NULL CHECK (sold >= 0),
    version   bigint NOT NULL
);
