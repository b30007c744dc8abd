-- Up to $2 campaigns whose end time is at or before $1 (ms) and whose end was not carried
-- out yet, earliest first.
SELECT campaign_id FROM campaign_ends
WHERE ended_at_ms IS NULL AND ends_at_ms <= $1
ORDER BY ends_at_ms, campaign_id
LIMIT $2
