-- Identity allocation (crate `ids`, DESIGN section 4).

-- One row per worker id that an order-id generator has ever leased. A lease is live while
-- expires_at is in the future; a dead or released row is taken over by the next acquirer.
-- last_ms (Unix ms) is a promise: no id of this worker id has a time after it, nor will the
-- current owner issue one until it has renewed and raised it. A new owner starts after it, so
-- ids never repeat across owners, whatever the clocks of the two nodes say.
-- token tells two generators of the same owner (e.g. a restarted process) apart.
CREATE TABLE id_worker_leases
(
    worker_id  integer     PRIMARY KEY CHECK (worker_id >= 0 AND worker_id < 128),
    owner      text        NOT NULL,
    token      text        NOT NULL,
    expires_at timestamptz NOT NULL,
    last_ms    bigint      NOT NULL CHECK (last_ms >= 0)
);

-- Leaf-segment sequences: one row per business tag. An allocator takes the range
-- (max_id - step, max_id] by raising max_id in one statement; step is the size of the latest
-- range handed out (allocators adapt it to demand). A row inserted by hand before first use
-- sets where numbering starts.
CREATE TABLE id_segments
(
    biz_tag    text        PRIMARY KEY,
    max_id     bigint      NOT NULL CHECK (max_id >= 0),
    step       integer     NOT NULL CHECK (step > 0),
    updated_at timestamptz NOT NULL DEFAULT now()
);
