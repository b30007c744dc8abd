-- Takes the next range of a business tag: (max_id - step, max_id] of the returned max_id.
-- The row lock of the upsert serialises allocators; the first use inserts the row, race-free.
-- $1 biz tag, $2 step
INSERT INTO id_segments AS segment (biz_tag, max_id, step, updated_at)
VALUES ($1, $2::integer, $2::integer, now())
ON CONFLICT (biz_tag) DO UPDATE
    SET max_id     = segment.max_id + excluded.step,
        step       = excluded.step,
        updated_at = excluded.updated_at
RETURNING max_id
