-- Appends the events of one or more commands in one statement (one transaction): all or none.
-- Rows keep the order they are given in, so a command's events take increasing positions.
-- The shared lock marks the transaction as a writer of the log for the readers' horizon
-- (log_horizon()); it is taken once, before the first row, so before the transaction has an id.
INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload,
                    metadata)
SELECT aggregate_type, aggregate_id, sequence, event_type, event_version, payload::json,
       metadata::json
FROM (SELECT *
      FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[],
                  $7::text[]) WITH ORDINALITY
               AS e(aggregate_type, aggregate_id, sequence, event_type, event_version, payload,
                    metadata, n)
      ORDER BY n) AS ordered
WHERE (SELECT count(*) FROM (SELECT pg_advisory_xact_lock_shared(1330791507)) AS writer) = 1
