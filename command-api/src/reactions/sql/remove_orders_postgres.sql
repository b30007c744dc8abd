-- Removes every row of the order ids in $1 (a JSON array), placed orders holding them now.
DELETE FROM open_reservations
WHERE order_id = ANY (ARRAY(SELECT json_array_elements_text(CAST($1 AS json))))
