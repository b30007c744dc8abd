-- Takes the next range of a business tag: (max_id - step, max_id] of the returned max_id.
-- $1 biz tag, $2 step
INSERT INTO id_segments (biz_tag, max_id, step, updated_at)
VALUES ($1, $2, $2, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
ON CONFLICT (biz_tag) DO UPDATE
    SET max_id     = id_segments.max_id + excluded.step,
        step       = excluded.step,
        updated_at = excluded.updated_at
RETURNING max_id
