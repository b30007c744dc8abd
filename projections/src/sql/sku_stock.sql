SELECT sku, seller_id, available, reserved, sold, version FROM {stock} WHERE sku = $1
