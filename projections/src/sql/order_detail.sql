-- An order from the detail view, else from the archive. One statement reads one snapshot, so
-- an order that the archiver moves meanwhile is found in one place or the other, never neither.
SELECT state, content_hash, version, 0 AS archived FROM {detail} WHERE order_id = $1
UNION ALL
SELECT state, content_hash, version, 1 AS archived FROM {archive} WHERE order_id = $1
ORDER BY archived
LIMIT 1
