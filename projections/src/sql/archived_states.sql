-- The states of archived orders ($1: a JSON array of ids) that late events apply to (such an
-- order then leaves the archive: unarchive.sql)
SELECT order_id, version, state FROM {archive} WHERE order_id {in_ids}
