-- One order in an owner's list: its detail row, if the owner is its {owner} (ADR 13).
SELECT state, content_hash, version, placed_at_us
FROM {detail}
WHERE order_id = $2 AND {owner} = $1
