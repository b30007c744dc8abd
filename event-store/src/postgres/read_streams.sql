SELECT position, txid::text AS txid_text, aggregate_type, aggregate_id, sequence, event_type,
       event_version, payload, metadata, recorded_at
FROM events
WHERE aggregate_type = $1
  AND aggregate_id IN (SELECT jsonb_array_elements_text(CAST($2 AS jsonb)))
ORDER BY aggregate_id, sequence
