SELECT position, txid::text AS txid_text, aggregate_type, aggregate_id, sequence, event_type,
       event_version, payload::text AS payload, metadata, recorded_at
FROM events
WHERE aggregate_type = $1 AND aggregate_id = $2 AND dedup_key = $3
ORDER BY sequence
