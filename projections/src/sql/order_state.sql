-- The state an order's next event applies to. On PostgreSQL the row is locked (FOR UPDATE):
-- the archiver skips a locked row, and waits for none, so an order never moves to the archive
-- while an event is applied to it.
SELECT version, state FROM {detail} WHERE order_id = $1{for_update}
