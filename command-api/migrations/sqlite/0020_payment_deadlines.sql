-- Payment deadlines: see the PostgreSQL migration of the same number and
-- docs/adr/0020-payment-deadlines.md. Times are Unix milliseconds.
CREATE TABLE payment_deadlines
(
    order_id         text    PRIMARY KEY,
    due_at_ms        integer NOT NULL,
    trade_no         text    NOT NULL,
    amount_cents     integer NOT NULL CHECK (amount_cents >= 0),
    state            text    NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done')),
    claimed_until_ms integer NOT NULL DEFAULT 0,
    attempts         integer NOT NULL DEFAULT 0,
    fired_at_ms      integer,
    outcome          text
) STRICT;

CREATE INDEX payment_deadlines_due ON payment_deadlines (due_at_ms) WHERE state = 'pending';
