-- The trade number recorded with order $1's deadline.
SELECT trade_no FROM payment_deadlines WHERE order_id = $1
