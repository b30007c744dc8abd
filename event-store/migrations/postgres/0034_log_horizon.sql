-- The horizon of the log's readers (ADR 1): the oldest transaction that may still append to
-- the log, taken over the log's own writers alone. Every append holds the advisory lock
-- 1330791507 in shared mode, taken before its transaction has an id (event-store's
-- insert_events.sql). Of the transactions still running in the calling statement's snapshot,
-- one that runs now with an id but without that lock will never append, and does not count;
-- every other one does (an appender, or one that ended since the snapshot: the next read no
-- longer sees it). pg_locks is read once, so its rows agree with each other. STABLE: it reads
-- the calling statement's snapshot, the one the log is read with.
CREATE FUNCTION log_horizon() RETURNS xid8
LANGUAGE sql STABLE PARALLEL RESTRICTED AS $$
    WITH locks AS MATERIALIZED (
        SELECT locktype, mode, virtualtransaction, transactionid, database, classid, objid,
               objsubid
        FROM pg_locks
        WHERE granted AND locktype IN ('transactionid', 'advisory')
    ),
    bystanders AS (
        SELECT t.transactionid::text::bigint AS xid
        FROM locks AS t
        WHERE t.locktype = 'transactionid'
          AND t.mode = 'ExclusiveLock'
          AND NOT EXISTS (
              SELECT 1
              FROM locks AS a
              WHERE a.locktype = 'advisory'
                AND a.virtualtransaction = t.virtualtransaction
                AND a.database = (SELECT oid FROM pg_database WHERE datname = current_database())
                AND a.classid = 0 AND a.objid = 1330791507 AND a.objsubid = 1)
    )
    SELECT coalesce(min(running), pg_snapshot_xmax(pg_current_snapshot()))
    FROM pg_snapshot_xip(pg_current_snapshot()) AS running
    WHERE running::text::bigint % 4294967296 NOT IN (SELECT xid FROM bystanders)
$$;
