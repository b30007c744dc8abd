-- Removes the picked orders ($1, a JSON array of ids) from {list} (before they leave the
-- detail view, which names their owners)
DELETE FROM {list}
WHERE ({owner}, order_id) IN (SELECT {owner}, order_id FROM {detail} WHERE order_id IN ({ids}))
