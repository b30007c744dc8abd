-- Campaign ends: see the PostgreSQL migration of the same number and
-- docs/adr/0038-flash-sale-buckets-and-buyer-records.md. Times are Unix milliseconds.
CREATE TABLE campaign_ends
(
    campaign_id text    NOT NULL PRIMARY KEY,
    ends_at_ms  integer NOT NULL,
    ended_at_ms integer
) STRICT;

CREATE INDEX campaign_ends_due ON campaign_ends (ends_at_ms) WHERE ended_at_ms IS NULL;
