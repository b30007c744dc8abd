-- The order views' documents and states as `json` rather than `jsonb`. Nothing queries inside
-- them: the server reads a document whole and the projection reads a state whole, so `jsonb`'s
-- parsed form bought nothing but its cost, paid on every write (PostgreSQL parses each value
-- into it) and every read (and prints it back). `json` keeps the text as written, after
-- checking that it is JSON. The content hash never depended on either: it is taken over the
-- document's canonical serialisation (projections/src/document.rs).
ALTER TABLE order_detail ALTER COLUMN document TYPE json, ALTER COLUMN state TYPE json;
ALTER TABLE buyer_orders ALTER COLUMN document TYPE json;
ALTER TABLE seller_orders ALTER COLUMN document TYPE json;
ALTER TABLE order_archive ALTER COLUMN document TYPE json, ALTER COLUMN state TYPE json;
