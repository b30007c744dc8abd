-- Open reservations (docs/adr/0032-no-stock-held-without-an-order.md): the stock reservations
-- that no placed order holds yet, by order id and SKU. Kept from the log, at least once, by the
-- `placement-reactions` reaction: a `StockReserved` adds its row; `StockReleased`,
-- `StockDeducted` and the order's `OrderPlaced` remove it. A `PlacementRejected` releases the
-- rows of its order, and the abandoned-placement sweeper finds rows older than its bound here
-- (by age, through the index below) rather than in the log. Times are Unix milliseconds.
CREATE TABLE open_reservations
(
    order_id       text   NOT NULL,
    sku            text   NOT NULL,
    reserved_at_ms bigint NOT NULL,
    PRIMARY KEY (order_id, sku)
);

-- the sweeper reads the oldest rows first
CREATE INDEX open_reservations_age ON open_reservations (reserved_at_ms);
