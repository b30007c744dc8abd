-- Each order's document is stored once: in the detail view (or the archive). The buyer and
-- seller lists keep what they sort, filter and compare by (status, placed_at_us, version and
-- the content hash) and their pages join the detail view for the documents
-- (docs/adr/0012-stream-rebuild.md).
ALTER TABLE buyer_orders DROP COLUMN document;
ALTER TABLE seller_orders DROP COLUMN document;
