SELECT document, content_hash, version, placed_at_us FROM {list} WHERE {owner} = $1 AND order_id = $2
