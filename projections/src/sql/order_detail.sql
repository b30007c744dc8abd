SELECT document, content_hash, version FROM {detail} WHERE order_id = $1
