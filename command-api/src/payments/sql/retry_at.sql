-- Holds order $1's claimed deadline until $2 (ms), when a timer tries it again.
UPDATE payment_deadlines SET claimed_until_ms = $2 WHERE order_id = $1
