-- The sqlite-es 0.5 schema (its migrations/, without the sample view and row), with the same
-- additions as the PostgreSQL store: a global position, recorded_at and the dedup key.
-- SQLite runs one write transaction at a time, so position order is commit order.
CREATE TABLE events
(
    aggregate_type text                          NOT NULL,
    aggregate_id   text                          NOT NULL,
    sequence       integer CHECK (sequence >= 0) NOT NULL,
    event_type     text                          NOT NULL,
    event_version  text                          NOT NULL,
    payload        text                          NOT NULL,
    metadata       text                          NOT NULL,
    position       integer,
    recorded_at    text NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    dedup_key      text GENERATED ALWAYS AS (json_extract(metadata, '$.dedup_key')) STORED,
    command_index  integer GENERATED ALWAYS AS (CAST(json_extract(metadata, '$.command_index') AS integer)) STORED,
    PRIMARY KEY (aggregate_type, aggregate_id, sequence)
) STRICT;

CREATE TABLE snapshots
(
    aggregate_type   text                                  NOT NULL,
    aggregate_id     text                                  NOT NULL,
    last_sequence    integer CHECK (last_sequence >= 0)    NOT NULL,
    current_snapshot integer CHECK (current_snapshot >= 0) NOT NULL,
    payload          text                                  NOT NULL,
    PRIMARY KEY (aggregate_type, aggregate_id, last_sequence)
) STRICT;

CREATE UNIQUE INDEX events_position ON events (position);

CREATE UNIQUE INDEX events_dedup ON events (aggregate_type, aggregate_id, dedup_key, command_index)
    WHERE dedup_key IS NOT NULL;

-- sqlite-es inserts the seven postgres-es columns; the position is set inside the same write
-- transaction, and only one write transaction runs at a time
CREATE TRIGGER events_position AFTER INSERT ON events
BEGIN
    UPDATE events
    SET position = (SELECT coalesce(max(position), 0) + 1 FROM events)
    WHERE rowid = NEW.rowid;
END;
