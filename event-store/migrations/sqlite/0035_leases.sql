-- Leases of the work that runs on one node at a time (see the PostgreSQL twin). Times are
-- ISO 8601 UTC text with milliseconds, which compare in time order.
CREATE TABLE leases (
    name        TEXT PRIMARY KEY,
    holder      TEXT NOT NULL,
    acquired_at TEXT NOT NULL,
    expires_at  TEXT NOT NULL
);
