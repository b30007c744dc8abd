-- Where each named subscriber of the log (process managers, the relay) has got to. Read models
-- keep their checkpoints in their own tables, in the same transaction as their rows.
CREATE TABLE subscription_checkpoints
(
    name       text PRIMARY KEY,
    txid       bigint      NOT NULL CHECK (txid >= 0),
    position   bigint      NOT NULL CHECK (position >= 0),
    updated_at timestamptz NOT NULL DEFAULT now()
);
