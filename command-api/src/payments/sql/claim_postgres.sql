-- Claims up to $3 pending deadlines due at $1 (ms) that no live claim holds, until $2 (ms).
-- SKIP LOCKED lets several timers claim at once without waiting on, or taking, each other's rows.
UPDATE payment_deadlines d
SET claimed_until_ms = $2,
    attempts         = d.attempts + 1
FROM (SELECT order_id
      FROM payment_deadlines
      WHERE state = 'pending'
        AND due_at_ms <= $1
        AND claimed_until_ms <= $1
      ORDER BY due_at_ms
      LIMIT $3
      FOR UPDATE SKIP LOCKED) due
WHERE d.order_id = due.order_id
RETURNING d.order_id, d.due_at_ms, d.trade_no, d.amount_cents
