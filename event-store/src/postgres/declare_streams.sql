-- Every stream of one type ($1), stream by stream in the primary key's order, holding only the
-- events at or before the log checkpoint ($2, $3): the same events read_after.sql reads up to
-- there. A cursor, fetched a page at a time: planned for its first rows, it walks the key's
-- index once. The payload is read as its text, parsed once by whoever decodes it.
DECLARE streams NO SCROLL CURSOR FOR
SELECT aggregate_id, sequence, event_type, event_version, payload::text AS payload, recorded_at
FROM events
WHERE aggregate_type = $1
  AND (txid, position) <= ($2::text::xid8, $3)
ORDER BY aggregate_type, aggregate_id, sequence
