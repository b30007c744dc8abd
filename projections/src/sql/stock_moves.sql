-- Applies a batch's stock movements, folded per SKU ($1: a JSON array of rows), each only on
-- top of the SKU's event before them (version = from_version). Returns the SKUs it moved; the
-- caller applies the others event by event (an event applied already, or a corrupt view).
UPDATE {stock}
SET available = {stock}.available + r.available,
    reserved  = {stock}.reserved + r.reserved,
    sold      = {stock}.sold + r.sold,
    version   = r.version
FROM {move_rows}
WHERE {stock}.sku = r.sku AND {stock}.version = r.from_version
RETURNING {stock}.sku
