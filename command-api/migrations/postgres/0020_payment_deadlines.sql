-- Payment deadlines (docs/adr/0020-payment-deadlines.md). The due time is authoritative in the
-- log (OrderPlaced.payment_due_at); this table is its durable index, kept at least once by the
-- `payment-deadlines` reaction (insert idempotent by order id), so timers can find the next
-- deadline and claim due ones without reading the log. Times are Unix milliseconds, read from
-- the application's injected clock.
CREATE TABLE payment_deadlines
(
    order_id         text    PRIMARY KEY,
    due_at_ms        bigint  NOT NULL,
    -- the payment provider's trade for the order (a Leaf-segment number)
    trade_no         text    NOT NULL,
    amount_cents     bigint  NOT NULL CHECK (amount_cents >= 0),
    -- pending until fired by a timer, or settled early by a payment or a cancellation
    state            text    NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done')),
    -- a timer that claimed the row owns it until then; after that any timer may take it over
    claimed_until_ms bigint  NOT NULL DEFAULT 0,
    attempts         integer NOT NULL DEFAULT 0,
    fired_at_ms      bigint,
    outcome          text
);

-- timers read pending deadlines in due order (the next wake-up, and claims)
CREATE INDEX payment_deadlines_due ON payment_deadlines (due_at_ms) WHERE state = 'pending';
