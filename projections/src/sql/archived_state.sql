-- The state of an archived order that a late event applies to (the order then leaves the
-- archive: unarchive.sql)
SELECT version, state FROM {archive} WHERE order_id = $1
