//! A campaign's natural end (ADR 38): once its end time has passed, what its buckets hold goes
//! back to the SKU, as when its seller ends it, without anybody asking.
//!
//! The `campaign-ends` reaction keeps the `campaign_ends` table (migration 0043) from the log:
//! a `CampaignCreated` adds the campaign's end time. The node holding the `timer` lease
//! ([`crate::leased`]) reads the rows whose time has passed, through an index, every
//! [`CAMPAIGN_END_POLL_MS`], carries each end out ([`Campaigns::end_when_due`]) and marks the
//! row done. Every step of an end is keyed, so an end carried out twice (a lease that moved
//! mid-round, a crash before the row was marked, the seller ending it too) returns each unit
//! once; a row stays until its end is carried out, so a restart loses none.

use std::time::Duration;

use domain::{Campaign, CampaignEvent, CampaignId};
use event_store::{Db, EventMetadata, EventStore, RecordedEvent, StoreError};
use shards::Stores;
use tokio_util::sync::CancellationToken;

use crate::reactions::runner::Reaction;
use crate::services::Clock;
use crate::services::campaigns::Campaigns;

const RECORD: &str = include_str!("sql/record.sql");
const DUE: &str = include_str!("sql/due.sql");
const FINISH: &str = include_str!("sql/finish.sql");

/// How often the timer looks for campaigns whose end time has passed: the bound, beside the
/// reaction's lag, on how late a campaign's units are back on the SKU.
pub const CAMPAIGN_END_POLL_MS: u64 = 1_000;
/// Campaigns one round ends at most (the rest wait for the next round).
pub const ENDS_PER_ROUND_MAX: usize = 64;
const ACTOR: &str = "system:campaign-ends";

type EndError = Box<dyn std::error::Error + Send + Sync>;

/// The `campaign_ends` table of the event store's database.
#[derive(Debug, Clone)]
pub struct CampaignEnds {
    db: Db,
}

impl CampaignEnds {
    /// The table in `db`'s database.
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// Records that `campaign` ends at `ends_at_ms`; a campaign recorded before is kept.
    pub async fn record(&self, campaign: &CampaignId, ends_at_ms: i64) -> Result<(), StoreError> {
        let db = &self.db;
        db.query(RECORD)
            .bind(campaign.as_str())
            .bind(ends_at_ms)
            .execute(db)
            .await?;
        Ok(())
    }

    /// Up to `limit` campaigns whose end time is at or before `now_ms` and whose end is not
    /// carried out yet, earliest first.
    pub async fn due(&self, now_ms: i64, limit: usize) -> Result<Vec<String>, StoreError> {
        let db = &self.db;
        Ok(db
            .query(DUE)
            .bind(now_ms)
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all_with(db, |row| row.try_get(0))
            .await?)
    }

    /// Marks `campaign`'s end carried out at `at_ms`.
    pub async fn finish(&self, campaign: &str, at_ms: i64) -> Result<(), StoreError> {
        let db = &self.db;
        db.query(FINISH)
            .bind(campaign)
            .bind(at_ms)
            .execute(db)
            .await?;
        Ok(())
    }
}

/// Records each campaign's end time as the log creates it.
#[derive(Debug, Clone)]
pub struct CampaignEndsReaction {
    ends: CampaignEnds,
}

impl CampaignEndsReaction {
    /// The reaction keeping the `campaign_ends` of `store` (the shard whose log it follows).
    pub fn new(store: &EventStore) -> Self {
        Self {
            ends: CampaignEnds::new(store.db()),
        }
    }
}

impl Reaction for CampaignEndsReaction {
    fn name(&self) -> &'static str {
        "campaign-ends"
    }

    async fn react(&self, event: &RecordedEvent) -> Result<(), EndError> {
        if event.aggregate_type != <Campaign as cqrs_es::Aggregate>::TYPE {
            return Ok(());
        }
        if let CampaignEvent::CampaignCreated(created) = event.decode::<CampaignEvent>()? {
            self.ends
                .record(&created.campaign_id, created.ends_at.timestamp_millis())
                .await?;
        }
        Ok(())
    }
}

/// Ends the campaigns whose end time has passed.
#[derive(Debug, Clone)]
pub struct CampaignEnder {
    campaigns: Campaigns,
    ends: CampaignEnds,
    clock: Clock,
}

impl CampaignEnder {
    /// An ender of the campaigns that `local`'s `campaign_ends` holds (the shard it runs
    /// for), ending each through `stores`, reading time from `clock`.
    pub fn new(stores: Stores, local: &EventStore, clock: Clock) -> Self {
        Self {
            ends: CampaignEnds::new(local.db()),
            campaigns: Campaigns::new(stores, clock.clone()),
            clock,
        }
    }

    /// One round: carries out the end of up to [`ENDS_PER_ROUND_MAX`] campaigns whose end
    /// time has passed; answers how many ended. A campaign whose end fails stays due and is
    /// tried again next round.
    pub async fn end_due(&self) -> Result<usize, StoreError> {
        let now_ms = self.clock.now().timestamp_millis();
        let due = self.ends.due(now_ms, ENDS_PER_ROUND_MAX).await?;
        let mut ended = 0;
        for id in due {
            match self.end(&id).await {
                Ok(true) => {
                    self.ends
                        .finish(&id, self.clock.now().timestamp_millis())
                        .await?;
                    ended += 1;
                    tracing::info!(campaign_id = id, "the campaign ended at its end time");
                }
                Ok(false) => {}
                Err(err) => {
                    tracing::warn!(campaign_id = id, error = %err, "ending a campaign failed; retrying");
                }
            }
        }
        Ok(ended)
    }

    async fn end(&self, id: &str) -> Result<bool, EndError> {
        let campaign = CampaignId::parse(id)
            .map_err(|err| format!("campaign_ends names the campaign {id:?}: {err}"))?;
        let meta = EventMetadata {
            actor: Some(ACTOR.to_owned()),
            ..EventMetadata::default()
        };
        Ok(self.campaigns.end_when_due(&campaign, &meta).await?)
    }
}

/// Runs a round every [`CAMPAIGN_END_POLL_MS`] until `shutdown`.
pub async fn run(ender: CampaignEnder, shutdown: CancellationToken) {
    tracing::info!("campaign end timer started");
    loop {
        if let Err(err) = ender.end_due().await {
            tracing::warn!(error = %err, "reading the campaigns to end failed");
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(Duration::from_millis(CAMPAIGN_END_POLL_MS)) => {}
        }
    }
}
