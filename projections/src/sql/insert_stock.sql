-- A replay's SKUs ($1: a JSON array of rows, one per SKU, each folded from its whole stream)
-- into the empty stock view it rebuilds.
INSERT INTO {stock} (sku, seller_id, available, reserved, sold, version)
SELECT sku, seller_id, available, reserved, sold, version
FROM {stock_rows}
