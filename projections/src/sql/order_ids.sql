-- The next ids of one aggregate type's streams, in id order, after $2 (keyset paging)
SELECT DISTINCT aggregate_id FROM events
WHERE aggregate_type = $1 AND aggregate_id > $2
ORDER BY aggregate_id
LIMIT $3
