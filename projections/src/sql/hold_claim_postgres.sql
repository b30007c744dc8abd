-- A replay's claim on its checkpoint row $1 (token $2), held for one write: a shared lock, so
-- the replay's writers run at once and a reset waits for them.
SELECT 1 FROM projection_checkpoints WHERE projection = $1 AND txid = $2 FOR SHARE
