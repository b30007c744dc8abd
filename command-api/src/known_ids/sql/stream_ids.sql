-- The ids of aggregate type $1's streams after $2, in id order, at most $3: the filter of
-- known ids is filled from these at start. A stream's first event stands for the stream, so
-- the read runs along the log's primary key (aggregate_type, aggregate_id, sequence).
SELECT aggregate_id
FROM events
WHERE aggregate_type = $1 AND sequence = 1 AND aggregate_id > $2
ORDER BY aggregate_id
LIMIT $3
