-- Open reservations in campaigns (docs/adr/0038-flash-sale-buckets-and-buyer-records.md): a
-- flash-sale placement holds its unit in a campaign's bucket and a claim on its buyer's record,
-- not on the SKU, and both are open until its order holds them, as a SKU's reservation is. A
-- row now names the stream that holds it and that stream's aggregate type; the rows before
-- this migration were all the SKUs'.
ALTER TABLE open_reservations RENAME COLUMN sku TO stream_id;
ALTER TABLE open_reservations ADD COLUMN aggregate_type text NOT NULL DEFAULT 'Sku';
