-- An order is one row of the detail view (docs/adr/0013-one-row-per-order.md):
-- - the buyer's and the seller's lists are its indexes, not tables of their own: a list row
--   held nothing the detail row does not (owner, status, placed_at_us, version, content
--   hash), and every change of an order wrote it three times; a replay filled and indexed
--   two more tables;
-- - the document is not stored: it is derived from the state on read (OrderDocument::of, the
--   same function that made it), so a row holds the order once rather than twice. The
--   content hash is still the document's.
DROP TABLE buyer_orders;
DROP TABLE seller_orders;

-- Ids compare byte by byte ("C"): the database's locale (C.UTF-8 here) made every key
-- comparison of every index on them a strcoll. Their order only pages lists, whose cursor
-- compares with the same collation as the index sorts by.
-- States are text: PostgreSQL checked each `json` value it was given, which the server that
-- wrote it had just serialised; nothing reads inside them.
ALTER TABLE order_detail
    DROP COLUMN document,
    ALTER COLUMN order_id TYPE text COLLATE "C",
    ALTER COLUMN buyer_id TYPE text COLLATE "C",
    ALTER COLUMN seller_id TYPE text COLLATE "C",
    ALTER COLUMN state TYPE text;
ALTER TABLE order_archive
    DROP COLUMN document,
    ALTER COLUMN order_id TYPE text COLLATE "C",
    ALTER COLUMN buyer_id TYPE text COLLATE "C",
    ALTER COLUMN seller_id TYPE text COLLATE "C",
    ALTER COLUMN state TYPE text;

-- a buyer's and a seller's orders, newest first (keyset pagination on placed_at_us, order_id)
CREATE INDEX order_detail_buyer ON order_detail (buyer_id, placed_at_us DESC, order_id DESC);
CREATE INDEX order_detail_seller ON order_detail (seller_id, placed_at_us DESC, order_id DESC);
