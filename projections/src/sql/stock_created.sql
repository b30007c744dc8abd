INSERT INTO {stock} (sku, seller_id, available, reserved, sold, version)
VALUES ($1, $2, $3, 0, 0, $4)
ON CONFLICT (sku) DO NOTHING
