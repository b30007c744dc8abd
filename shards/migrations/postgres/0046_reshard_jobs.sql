-- Moves of genes between shards (ADR 42): one row per `orders reshard`, holding the step it
-- has reached, so that a move interrupted at any point resumes where it stopped. One move runs
-- at a time. The copier's checkpoint is not here: it is in the target, saved with each copy.
CREATE TABLE reshard_jobs (
    id          bigserial   PRIMARY KEY,
    gene_from   integer     NOT NULL CHECK (gene_from >= 0 AND gene_from < 1024),
    gene_to     integer     NOT NULL CHECK (gene_to >= gene_from AND gene_to < 1024),
    source      text        NOT NULL,
    target      text        NOT NULL CHECK (target <> source),
    step        text        NOT NULL DEFAULT 'copy'
                CHECK (step IN ('copy', 'reconcile', 'switch-reads', 'switch-writes', 'done')),
    started_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    cleaned_at  timestamptz
);

CREATE UNIQUE INDEX reshard_jobs_one_running ON reshard_jobs ((true)) WHERE step <> 'done';
