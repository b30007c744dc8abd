-- The cluster's oldest transaction with a transaction id, the one `oldest_writer_secs` measures
-- (it holds back vacuum, and every reader of the log while it appends): which process holds it,
-- in which state, running what (the start of its statement, on one line).
SELECT a.pid,
       coalesce(a.application_name, '') AS application_name,
       coalesce(a.state, '') AS state,
       coalesce(a.datname, '') AS database,
       left(regexp_replace(coalesce(a.query, ''), '\s+', ' ', 'g'), $1) AS query,
       extract(epoch FROM now() - a.xact_start)::float8 AS seconds
FROM pg_stat_activity AS a
WHERE a.backend_xid IS NOT NULL
  AND a.pid <> pg_backend_pid()
ORDER BY a.xact_start
LIMIT 1
