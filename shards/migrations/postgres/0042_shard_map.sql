-- The shard map (ADR 42): each version assigns every partition gene (0..1024) a shard to read
-- from and one to write to, as ranges of genes. A version is written once, whole, in one
-- transaction; the newest version is the one in force.
CREATE TABLE shard_map_versions (
    version     BIGINT PRIMARY KEY CHECK (version > 0),
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    note        TEXT NOT NULL DEFAULT ''
);

CREATE TABLE shard_map (
    version      BIGINT NOT NULL REFERENCES shard_map_versions (version),
    gene_from    INTEGER NOT NULL CHECK (gene_from >= 0 AND gene_from < 1024),
    gene_to      INTEGER NOT NULL CHECK (gene_to >= gene_from AND gene_to < 1024),
    read_shard   TEXT NOT NULL,
    write_shard  TEXT NOT NULL,
    PRIMARY KEY (version, gene_from)
);
