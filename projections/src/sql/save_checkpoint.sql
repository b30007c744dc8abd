-- Moves the checkpoint only from where this runner read it: a second runner of the same
-- projection (another process) that got there first makes this update no row, and the batch
-- is rolled back instead of applied twice.
UPDATE projection_checkpoints
SET txid = $2, position = $3
WHERE projection = $1 AND txid = $4 AND position = $5
