-- The version (newest sequence) of each stream of type ?1 named in ?2 (a JSON array of ids),
-- NULL for a stream without events: one index probe per stream.
SELECT ids.value AS aggregate_id,
       (SELECT max(e.sequence) FROM events e
        WHERE e.aggregate_type = ?1 AND e.aggregate_id = ids.value) AS version
FROM json_each(?2) AS ids
