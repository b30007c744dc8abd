-- A replay's claim on its checkpoint row $1 (token $2), held for one write: a write, which
-- takes the write lock first (SQLite has one writer at a time).
UPDATE projection_checkpoints SET position = 0 WHERE projection = $1 AND txid = $2
RETURNING 1
