-- Grows the log for the rebuild benchmark: copies :first to :last of every order stream with an
-- event at or below position :originals, each copy under new order ids (the original id plus
-- copy * 2^53: the id's millisecond field, above its 23 low bits, moved 2^30 ms, 12 days, per
-- copy, so that no copy meets an order of the run or another copy), in the originals' log
-- order. Payload and metadata name the new id. Stock and product streams are not copied.
--   psql -v first=1 -v last=10 -v originals=12345 -f bench/grow-log.sql <db>
INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload,
                    metadata)
SELECT e.aggregate_type, n.id, e.sequence, e.event_type, e.event_version,
       replace(e.payload::text, e.aggregate_id, n.id)::json,
       replace(e.metadata::text, e.aggregate_id, n.id)::json
FROM generate_series(:first, :last) AS c(copy)
         JOIN events e ON e.aggregate_type = 'Order' AND e.position <= :originals
         CROSS JOIN LATERAL (SELECT (e.aggregate_id::numeric + c.copy * 9007199254740992)::text) AS n(id)
ORDER BY c.copy, e.txid, e.position;
