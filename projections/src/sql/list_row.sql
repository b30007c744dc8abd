-- One order in an owner's list, with its document from the detail view (ADR 12).
SELECT d.document, l.content_hash, l.version, l.placed_at_us
FROM {list} l
         JOIN {detail} d ON d.order_id = l.order_id
WHERE l.{owner} = $1 AND l.order_id = $2
