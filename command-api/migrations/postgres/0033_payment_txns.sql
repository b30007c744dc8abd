-- Which order each provider transaction paid: a transaction id belongs to one order, so a
-- notification naming it for another order is refused before anything is recorded
-- (command-api/src/services/payment.rs).
CREATE TABLE payment_txns
(
    txn_id   text PRIMARY KEY,
    order_id text NOT NULL
);
