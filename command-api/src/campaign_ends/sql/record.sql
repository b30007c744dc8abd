-- Records campaign $1's end time $2 (ms); a row already there is kept (the reaction handles
-- an event at least once).
INSERT INTO campaign_ends (campaign_id, ends_at_ms) VALUES ($1, $2)
ON CONFLICT (campaign_id) DO NOTHING
