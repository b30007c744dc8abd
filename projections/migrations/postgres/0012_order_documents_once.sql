-- Each order's document is stored once: in the detail view (or the archive). The buyer and
-- seller lists keep what they sort, filter and compare by (status, placed_at_us, version and
-- the content hash) and their pages join the detail view for the documents. A list row was
-- mostly a second and third copy of the document, written on every change of the order and
-- by every replay (docs/adr/0012-stream-rebuild.md).
ALTER TABLE buyer_orders DROP COLUMN document;
ALTER TABLE seller_orders DROP COLUMN document;

-- The documents and states as `json` rather than `jsonb`. Nothing queries inside them: the
-- server reads a document whole and the projection reads a state whole, so `jsonb`'s parsed
-- form bought nothing but its cost, paid on every write (PostgreSQL parses each value into it)
-- and every read (and prints it back). `json` keeps the text as written, after checking that
-- it is JSON. The content hash never depended on either: it is taken over the document's
-- canonical serialisation (projections/src/document.rs).
ALTER TABLE order_detail ALTER COLUMN document TYPE json, ALTER COLUMN state TYPE json;
ALTER TABLE order_archive ALTER COLUMN document TYPE json, ALTER COLUMN state TYPE json;
