-- The rows of the order ids in $1 (a JSON array) as (order id, SKU).
SELECT order_id, sku FROM open_reservations
WHERE order_id IN (SELECT value FROM json_each($1))
ORDER BY order_id, sku
