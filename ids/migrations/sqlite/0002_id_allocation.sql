-- Identity allocation (crate `ids`, DESIGN section 4); the same tables as the PostgreSQL
-- store's 0003_id_allocation.sql, with times as ISO-8601 UTC text like events.recorded_at (the
-- fixed format compares correctly as text).

-- One row per worker id that an order-id generator has ever leased. A lease is live while
-- expires_at is in the future; a dead or released row is taken over by the next acquirer.
-- last_ms (Unix ms) is a promise: no id of this worker id has a time after it, nor will the
-- current owner issue one until it has renewed and raised it. A new owner starts after it.
CREATE TABLE id_worker_leases
(
    worker_id  integer PRIMARY KEY CHECK (worker_id >= 0 AND worker_id < 128),
    owner      text    NOT NULL,
    token      text    NOT NULL,
    expires_at text    NOT NULL,
    last_ms    integer NOT NULL CHECK (last_ms >= 0)
) STRICT;

-- Leaf-segment sequences: one row per business tag; an allocator takes the range
-- (max_id - step, max_id] by raising max_id in one statement.
CREATE TABLE id_segments
(
    biz_tag    text    PRIMARY KEY,
    max_id     integer NOT NULL CHECK (max_id >= 0),
    step       integer NOT NULL CHECK (step > 0),
    updated_at text    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;
