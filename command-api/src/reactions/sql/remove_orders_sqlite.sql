-- Removes every row of the order ids in $1 (a JSON array), placed orders holding them now.
DELETE FROM open_reservations WHERE order_id IN (SELECT value FROM json_each($1))
