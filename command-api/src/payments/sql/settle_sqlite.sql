-- Marks the pending deadlines of the order ids in $1 (a JSON array) done, settled before they
-- fired.
UPDATE payment_deadlines
SET state   = 'done',
    outcome = 'settled'
WHERE order_id IN (SELECT value FROM json_each($1))
  AND state = 'pending'
