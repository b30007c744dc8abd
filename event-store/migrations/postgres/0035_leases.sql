-- Leases of the work that runs on one node at a time (a projection, a reaction, the relay):
-- a row per lease, held by one node until its expiry, which the holder keeps moving forward.
-- Times are the database's clock, so nodes' clocks never have to agree.
CREATE TABLE leases (
    name        TEXT PRIMARY KEY,
    holder      TEXT        NOT NULL,
    acquired_at TIMESTAMPTZ NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL
);
