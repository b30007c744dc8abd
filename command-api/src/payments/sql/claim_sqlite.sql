-- Claims up to $3 pending deadlines due at $1 (ms) that no live claim holds, until $2 (ms).
-- SQLite runs one write transaction at a time, so one statement's claim is exclusive.
UPDATE payment_deadlines
SET claimed_until_ms = $2,
    attempts         = attempts + 1
WHERE order_id IN (SELECT order_id
                   FROM payment_deadlines
                   WHERE state = 'pending'
                     AND due_at_ms <= $1
                     AND claimed_until_ms <= $1
                   ORDER BY due_at_ms
                   LIMIT $3)
RETURNING order_id, due_at_ms, trade_no, amount_cents
