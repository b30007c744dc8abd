-- Which order each provider transaction paid: see the PostgreSQL migration of the same number.
CREATE TABLE payment_txns
(
    txn_id   text PRIMARY KEY,
    order_id text NOT NULL
) STRICT;
