-- a projection's checkpoint row exists before its first batch, so every batch moves it with a
-- compare-and-set (save_checkpoint.sql)
INSERT INTO projection_checkpoints (projection, txid, position) VALUES ($1, 0, 0)
ON CONFLICT (projection) DO NOTHING
