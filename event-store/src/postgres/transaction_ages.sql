-- How long the oldest append to this database's log ($1: the writers' lock, ADR 1) and the
-- oldest transaction of the cluster with a transaction id have been running, in seconds.
SELECT extract(epoch FROM now() - min(a.xact_start) FILTER (WHERE w.pid IS NOT NULL))::float8
           AS oldest_append_secs,
       extract(epoch FROM now() - min(a.xact_start))::float8 AS oldest_writer_secs
FROM pg_stat_activity AS a
LEFT JOIN pg_locks AS w
       ON w.pid = a.pid
      AND w.granted
      AND w.locktype = 'advisory'
      AND w.database = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND w.classid = 0 AND w.objid = $1::bigint::oid AND w.objsubid = 1
WHERE a.backend_xid IS NOT NULL
  AND a.pid <> pg_backend_pid()
