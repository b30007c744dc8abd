-- Applies a batch's stock movements, folded per SKU ({move_rows}: on PostgreSQL one array a
-- column, $1 to $6; on SQLite $1, a JSON array of rows), each only on top of the SKU's event
-- before them (version = from_version). Returns the SKUs it moved; the caller applies the
-- others event by event (an event applied already, or a corrupt view).
-- The SKUs are also tested as a list, which PostgreSQL probes by key: joined
-- only with the rows, it guesses a hundred of them and hashes a scan of every SKU's row.
UPDATE {stock}
SET available = {stock}.available + r.available,
    reserved  = {stock}.reserved + r.reserved,
    sold      = {stock}.sold + r.sold,
    version   = r.version
FROM {move_rows}
WHERE {stock}.sku = r.sku AND {stock}.version = r.from_version AND {stock}.sku {in_move_skus}
RETURNING {stock}.sku
