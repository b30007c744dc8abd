-- The horizon of the log's readers (ADR 1): the oldest transaction that may still append to
-- the log, taken over the log's own writers alone, for a reader whose statement runs with
-- `snapshot` (pass pg_current_snapshot() from that statement).
--
-- Every append holds the advisory lock 1330791507 in shared mode from before its transaction
-- has an id until after it ends (event-store's insert_events.sql). Of the transactions running
-- in `snapshot`, one is left out only when it still runs with its id on a backend that did not
-- hold that lock a moment before: it had its id then already, so it can never append. Every
-- other one counts (an appender, or one that has ended since: the next read no longer sees it).
-- The order of the two reads is what makes it exact, hence plpgsql: first the lock holders,
-- then the running transactions. A transaction ending releases its locks one lock partition at
-- a time, after it stopped running: read the other way round, an appender could be seen running
-- without the lock, and its events passed by.
CREATE FUNCTION log_horizon(snapshot pg_snapshot) RETURNS xid8
LANGUAGE plpgsql VOLATILE PARALLEL RESTRICTED AS $$
DECLARE
    writers int[];
    bystanders bigint[];
BEGIN
    SELECT coalesce(array_agg(pid), '{}') INTO writers
    FROM pg_locks
    WHERE granted
      AND locktype = 'advisory'
      AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND classid = 0 AND objid = 1330791507 AND objsubid = 1;
    -- pg_stat_activity is kept for the rest of a transaction once read: read it afresh
    PERFORM pg_stat_clear_snapshot();
    SELECT coalesce(array_agg(backend_xid::text::bigint), '{}') INTO bystanders
    FROM pg_stat_activity
    WHERE backend_xid IS NOT NULL AND pid <> ALL (writers);
    RETURN (SELECT coalesce(min(running), pg_snapshot_xmax(snapshot))
            FROM pg_snapshot_xip(snapshot) AS running
            WHERE running::text::bigint % 4294967296 <> ALL (bystanders));
END
$$;
