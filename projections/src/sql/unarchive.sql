DELETE FROM {archive} WHERE order_id = $1
