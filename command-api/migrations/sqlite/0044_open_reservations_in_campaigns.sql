-- Open reservations in campaigns: see the PostgreSQL migration of the same number.
ALTER TABLE open_reservations RENAME COLUMN sku TO stream_id;
ALTER TABLE open_reservations ADD COLUMN aggregate_type text NOT NULL DEFAULT 'Sku';
