-- The seller views' deletes still to do (ADR 45): with shards, an archive batch records here,
-- in its own transaction, the orders it moved, and deletes each row once every shard's seller
-- view has forgotten the order. A batch stopped in between (a crash, a seller view that could
-- not be written) leaves its rows to the next batch, which forgets them with its own. Empty
-- without shards; SQLite is one database and has no such table.
CREATE TABLE seller_forgets
(
    order_id text COLLATE "C" PRIMARY KEY
);
