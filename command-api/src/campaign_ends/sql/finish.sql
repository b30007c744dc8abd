-- Marks campaign $1's end carried out at $2 (ms).
UPDATE campaign_ends SET ended_at_ms = $2
WHERE campaign_id = $1 AND ended_at_ms IS NULL
