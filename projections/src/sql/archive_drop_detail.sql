DELETE FROM {detail} WHERE order_id IN ({ids})
