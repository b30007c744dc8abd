-- The states the next events of these orders ($1: a JSON array of ids) apply to. On
-- PostgreSQL the rows are locked (FOR UPDATE): the archiver skips a locked row, and waits for
-- none, so an order never moves to the archive while events are applied to it.
SELECT order_id, version, state FROM {detail} WHERE order_id {in_ids}{for_update}
