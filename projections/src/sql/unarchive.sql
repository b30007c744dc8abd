-- Orders ($1: a JSON array of ids) that changed again leave the archive for the hot views.
DELETE FROM {archive} WHERE order_id {in_ids}
