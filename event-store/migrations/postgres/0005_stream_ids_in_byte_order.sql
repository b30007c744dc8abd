-- Stream keys compare byte by byte (the "C" collation), whatever the database's locale. Every
-- append compares them in the primary key and the dedup index, and a rebuild's page (stream
-- by stream in key order) in each index tuple it passes: with a locale such as C.UTF-8 each
-- of those comparisons was a strcoll (docs/adr/0013-one-row-per-order.md). The order of the
-- keys matters only to paging, whose cursors compare with the same collation as the index
-- sorts by. The type is unchanged, so PostgreSQL rebuilds the two indexes and not the table.
ALTER TABLE events
    ALTER COLUMN aggregate_type TYPE text COLLATE "C",
    ALTER COLUMN aggregate_id TYPE text COLLATE "C";
