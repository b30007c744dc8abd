-- Every copy of one order in every view that can hold it ($2 its buyer, $3 its seller), read in
-- one snapshot: an order moving to or from the archive meanwhile is seen in one place. A list
-- row's own fields are its hash and version; its document is the detail view's (ADR 12).
SELECT 'order_detail' AS view_name, document, content_hash, version FROM {detail} WHERE order_id = $1
UNION ALL
SELECT 'buyer_orders' AS view_name, d.document, l.content_hash, l.version
FROM {buyer} l
         JOIN {detail} d ON d.order_id = l.order_id
WHERE l.buyer_id = $2 AND l.order_id = $1
UNION ALL
SELECT 'seller_orders' AS view_name, d.document, l.content_hash, l.version
FROM {seller} l
         JOIN {detail} d ON d.order_id = l.order_id
WHERE l.seller_id = $3 AND l.order_id = $1
UNION ALL
SELECT 'order_archive' AS view_name, document, content_hash, version FROM {archive} WHERE order_id = $1
