-- What postgres-es lacks, added without changing what it writes: every new column is filled by
-- a default or generated from the metadata postgres-es already inserts.

-- position: global, unique, allocated at insert time. It is NOT commit order on its own (a later
-- position can commit first), so readers follow (txid, position) below the transaction horizon;
-- see docs/adr/0001-gap-free-ordering.md.
CREATE SEQUENCE events_position_seq AS bigint;

ALTER TABLE events
    ADD COLUMN position      bigint      NOT NULL DEFAULT nextval('events_position_seq'),
    ADD COLUMN txid          xid8        NOT NULL DEFAULT pg_current_xact_id(),
    ADD COLUMN recorded_at   timestamptz NOT NULL DEFAULT now(),
    -- a command's events share its dedup key; command_index numbers them 0, 1, ...
    ADD COLUMN dedup_key     text GENERATED ALWAYS AS (metadata ->> 'dedup_key') STORED,
    ADD COLUMN command_index integer GENERATED ALWAYS AS ((metadata ->> 'command_index')::integer) STORED;

ALTER SEQUENCE events_position_seq OWNED BY events.position;

-- the ordered subscription reads in this order
CREATE INDEX events_commit_order ON events (txid, position);

-- idempotency backstop: a second command with the same key in the same stream collides on its
-- first event (command_index 0) with the first command's; lookups by key use the prefix
CREATE UNIQUE INDEX events_dedup ON events (aggregate_type, aggregate_id, dedup_key, command_index)
    WHERE dedup_key IS NOT NULL;

-- a hint to subscribers that something committed; they also poll, so a lost hint only delays
CREATE FUNCTION events_notify() RETURNS trigger LANGUAGE plpgsql AS
$$
BEGIN
    PERFORM pg_notify('orders_events', '');
    RETURN NULL;
END
$$;

CREATE TRIGGER events_notify
    AFTER INSERT ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_notify();
