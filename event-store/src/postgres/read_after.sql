-- Commit order without gaps: only transactions older than the oldest one still running are
-- read (their set of events can no longer grow), in (txid, position) order. A running
-- transaction holds back every event of later transactions until it ends.
SELECT position, txid::text AS txid_text, aggregate_type, aggregate_id, sequence, event_type,
       event_version, payload::text AS payload, metadata, recorded_at
FROM events
WHERE (txid, position) > ($1::text::xid8, $2)
  AND txid < pg_snapshot_xmin(pg_current_snapshot())
ORDER BY txid, position
LIMIT $3
