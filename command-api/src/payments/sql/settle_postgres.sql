-- Marks the pending deadlines of the order ids in $1 (a JSON array) done, settled before they
-- fired: one probe of the primary key per id, however many deadlines are pending.
--
-- Written so that the planner has no other path (a test explains it):
-- - `state <> 'done'` is `state = 'pending'` (the column's CHECK allows no third value), but it
--   does not match the predicate of the partial index `payment_deadlines_due`. With
--   `= 'pending'` the planner scans that whole index, every pending deadline and every entry a
--   settled one leaves there until vacuum, since its statistics count only the live ones.
-- - The ids are an array, so they are an index condition of the primary key; as
--   `IN (SELECT ...)` the planner guesses 100 of them and hashes a scan of the table.
UPDATE payment_deadlines
SET state   = 'done',
    outcome = 'settled'
WHERE order_id = ANY (ARRAY(SELECT json_array_elements_text(CAST($1 AS json))))
  AND state <> 'done'
