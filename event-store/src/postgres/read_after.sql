-- Commit order without gaps: only transactions older than the oldest one that may still append
-- are read (their set of events can no longer grow), in (txid, position) order. A running
-- append holds back every event of later transactions until it ends (log_horizon(), ADR 1).
SELECT position, txid::text AS txid_text, aggregate_type, aggregate_id, sequence, event_type,
       event_version, payload::text AS payload, metadata, recorded_at
FROM events
WHERE (txid, position) > ($1::text::xid8, $2)
  AND txid < (SELECT log_horizon(pg_current_snapshot()))
ORDER BY txid, position
LIMIT $3
