-- Every copy of one order in every view that can hold it ($2 its buyer, $3 its seller), read in
-- one snapshot: an order moving to or from the archive meanwhile is seen in one place.
SELECT 'order_detail' AS view_name, document, content_hash, version FROM {detail} WHERE order_id = $1
UNION ALL
SELECT 'buyer_orders' AS view_name, document, content_hash, version FROM {buyer}
WHERE buyer_id = $2 AND order_id = $1
UNION ALL
SELECT 'seller_orders' AS view_name, document, content_hash, version FROM {seller}
WHERE seller_id = $3 AND order_id = $1
UNION ALL
SELECT 'order_archive' AS view_name, document, content_hash, version FROM {archive} WHERE order_id = $1
