SELECT version, state FROM {detail} WHERE order_id = $1
