-- Events a follower of the log could not handle after its retries, parked so that it goes on;
-- `orders dead-letters` lists them and asks for one to be run again (`retry_requested`).
CREATE TABLE dead_letters (
    id              BIGSERIAL PRIMARY KEY,
    follower        TEXT    NOT NULL,
    txid            BIGINT  NOT NULL,
    position        BIGINT  NOT NULL,
    aggregate_type  TEXT    NOT NULL,
    aggregate_id    TEXT    NOT NULL,
    sequence        BIGINT  NOT NULL,
    event_type      TEXT    NOT NULL,
    error           TEXT    NOT NULL,
    attempts        BIGINT  NOT NULL,
    parked_at_ms    BIGINT  NOT NULL,
    retry_requested BOOLEAN NOT NULL DEFAULT FALSE,
    UNIQUE (follower, position)
);
