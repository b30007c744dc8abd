-- The CRUD peer's tables, made at start if missing. A row of `stock` is a SKU's stock or a
-- campaign's (keyed by the campaign id, with its limit per buyer: on a peer a campaign is just
-- its stock); `campaign_buyers` counts each buyer's units of a campaign; `orders` holds one row
-- per order, its lines as JSON.
CREATE TABLE IF NOT EXISTS stock
(
    sku             text PRIMARY KEY,
    price_cents     bigint NOT NULL,
    initial         bigint NOT NULL,
    available       bigint NOT NULL,
    reserved        bigint NOT NULL DEFAULT 0,
    sold            bigint NOT NULL DEFAULT 0,
    limit_per_buyer bigint,
    campaign_sku    text
);

CREATE TABLE IF NOT EXISTS campaign_buyers
(
    campaign_id text   NOT NULL,
    buyer_id    text   NOT NULL,
    quantity    bigint NOT NULL,
    PRIMARY KEY (campaign_id, buyer_id)
);

CREATE TABLE IF NOT EXISTS orders
(
    order_id    text PRIMARY KEY,
    buyer_id    text   NOT NULL,
    campaign_id text,
    lines       jsonb  NOT NULL,
    total_cents bigint NOT NULL,
    status      text   NOT NULL,
    txn_id      text
);
