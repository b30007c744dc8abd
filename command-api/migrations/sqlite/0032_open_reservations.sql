-- Open reservations: see the PostgreSQL migration of the same number and
-- docs/adr/0032-no-stock-held-without-an-order.md. Times are Unix milliseconds.
CREATE TABLE open_reservations
(
    order_id       text    NOT NULL,
    sku            text    NOT NULL,
    reserved_at_ms integer NOT NULL,
    PRIMARY KEY (order_id, sku)
) STRICT;

CREATE INDEX open_reservations_age ON open_reservations (reserved_at_ms);
