-- Shards (ADR 42): each event's partition gene, and the fences that refuse appends to a gene
-- that is moving to another database.

-- The stream's gene (event_store::gene_of_stream), written by every append from now on; rows
-- appended before have none. Adding a nullable column without a default rewrites nothing.
ALTER TABLE events ADD COLUMN gene smallint;

-- A gene here takes no more appends on this database: its writes are switching to the map
-- version named, on another shard.
CREATE TABLE gene_fences (
    gene        smallint PRIMARY KEY CHECK (gene >= 0 AND gene < 1024),
    map_version bigint NOT NULL,
    fenced_at   timestamptz NOT NULL DEFAULT now()
);

-- What every append runs once, in its own statement, before its first row: the log writers'
-- shared lock (see 0034_log_horizon.sql), then the fences of its genes, read after the lock is
-- held. A volatile function reads with a snapshot of its own statement, so a fence committed
-- before the lock was granted is seen; a fence writer that then takes the lock exclusively has
-- waited out every append that could have missed its fence (EventStore::fence_gene). A fenced
-- gene fails the append with SQLSTATE OR042 and its gene and map version as the detail.
CREATE FUNCTION log_append_guard(genes smallint[]) RETURNS integer
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    fenced record;
BEGIN
    PERFORM pg_advisory_xact_lock_shared(1330791507);
    SELECT f.gene, f.map_version INTO fenced
    FROM gene_fences AS f
    WHERE f.gene = ANY (genes)
    ORDER BY f.gene
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'gene % is fenced off this database since shard map version %',
            fenced.gene, fenced.map_version
            USING ERRCODE = 'OR042', DETAIL = fenced.gene || ' ' || fenced.map_version;
    END IF;
    RETURN 1;
END
$$;
