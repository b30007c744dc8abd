-- The due time (ms) of the earliest pending deadline that no live claim holds at $1 (ms).
SELECT due_at_ms
FROM payment_deadlines
WHERE state = 'pending' AND claimed_until_ms <= $1
ORDER BY due_at_ms
LIMIT 1
