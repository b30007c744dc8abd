-- Appends the events of one or more commands in one statement (one transaction): all or none.
-- Rows keep the order they are given in, so a command's events take increasing positions.
-- log_append_guard (0045_genes_and_fences.sql) runs once, before the first row, so before the
-- transaction has an id: it takes the log writers' shared lock for the readers' horizon
-- (log_horizon()) and refuses the whole statement when one of its genes ($8) is fenced.
INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload,
                    metadata, gene)
SELECT aggregate_type, aggregate_id, sequence, event_type, event_version, payload::json,
       metadata::json, gene
FROM (SELECT *
      FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[],
                  $7::text[], $8::smallint[]) WITH ORDINALITY
               AS e(aggregate_type, aggregate_id, sequence, event_type, event_version, payload,
                    metadata, gene, n)
      ORDER BY n) AS ordered
WHERE (SELECT log_append_guard($8::smallint[])) = 1
