-- An order is one row of the detail view (docs/adr/0013-one-row-per-order.md): the buyer's
-- and the seller's lists are its indexes, and the document is derived from the state on read.
DROP TABLE buyer_orders;
DROP TABLE seller_orders;
ALTER TABLE order_detail DROP COLUMN document;
ALTER TABLE order_archive DROP COLUMN document;

CREATE INDEX order_detail_buyer ON order_detail (buyer_id, placed_at_us DESC, order_id DESC);
CREATE INDEX order_detail_seller ON order_detail (seller_id, placed_at_us DESC, order_id DESC);
