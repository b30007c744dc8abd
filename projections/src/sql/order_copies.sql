-- Every copy of one order in every view that can hold it, read in one snapshot: an order
-- moving to or from the archive meanwhile is seen in one place. The lists are indexes of the
-- detail view (ADR 13): the columns they are keyed and filtered by come with each copy.
SELECT 'order_detail' AS view_name, state, content_hash, version, placed_at_us, buyer_id,
       seller_id, status
FROM {detail}
WHERE order_id = $1
UNION ALL
SELECT 'order_archive' AS view_name, state, content_hash, version, placed_at_us, buyer_id,
       seller_id, status
FROM {archive}
WHERE order_id = $1
