SELECT version FROM {stock} WHERE sku = $1
