-- Where each named subscriber of the log (process managers, the relay) has got to.
CREATE TABLE subscription_checkpoints
(
    name       text PRIMARY KEY,
    txid       integer NOT NULL CHECK (txid >= 0),
    position   integer NOT NULL CHECK (position >= 0),
    updated_at text    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;
