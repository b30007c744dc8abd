-- Run by a replay of the order views just before it swaps the rebuilt tables in, so that every
-- order stays in exactly one place. An archived order the log has moved past (a late event the
-- live runner had not applied yet) leaves the archive: the rebuilt copy is the newer one.
DELETE FROM {archive}
WHERE order_id IN (SELECT d.order_id
                   FROM {detail} d
                   JOIN {archive} a ON a.order_id = d.order_id
                   WHERE d.version > a.version);
-- Every other archived order stays archived only (events after the rebuilt copy's version are
-- applied again by the live runner; those the archived copy holds already change nothing).
DELETE FROM {detail} WHERE order_id IN (SELECT order_id FROM {archive});
