-- Campaign ends (docs/adr/0038-flash-sale-buckets-and-buyer-records.md): each campaign's end
-- time, kept from the log by the `campaign-ends` reaction (a `CampaignCreated` adds its row),
-- so that the node holding the timer lease finds the campaigns whose end time has passed by
-- an index rather than in the log, and gives what their buckets hold back to the SKU.
-- `ended_at_ms` is set once that is done. Times are Unix milliseconds.
CREATE TABLE campaign_ends
(
    campaign_id text   NOT NULL PRIMARY KEY,
    ends_at_ms  bigint NOT NULL,
    ended_at_ms bigint
);

-- the timer reads the campaigns still to end, earliest first
CREATE INDEX campaign_ends_due ON campaign_ends (ends_at_ms) WHERE ended_at_ms IS NULL;
