-- Applies one stock event as deltas, only on top of the SKU's previous event: a row whose
-- version is not the event's sequence - 1 is left alone (the caller treats that as corrupt).
UPDATE {stock}
SET available = available + $2, reserved = reserved + $3, sold = sold + $4, version = $5
WHERE sku = $1 AND version = $5 - 1
