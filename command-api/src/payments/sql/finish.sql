-- Marks order $1's pending deadline done with outcome $3, fired at $2 (ms; null when it was
-- settled before it fired). Of two timers firing one deadline, one changes the row.
UPDATE payment_deadlines
SET state = 'done', fired_at_ms = $2, outcome = $3
WHERE order_id = $1 AND state = 'pending'
