DELETE FROM {detail} WHERE order_id {in_ids}
