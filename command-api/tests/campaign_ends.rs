//! A campaign's natural end (ADR 38), on both backends: once its end time has passed the timer
//! gives what its buckets hold back to the SKU, exactly once however many timers run it at
//! once, and not before. Time is a manual clock the test moves.
#![allow(clippy::unwrap_used, clippy::expect_used, unreachable_pub)]

use shards::Stores;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use command_api::campaign_ends::{CampaignEnder, CampaignEndsReaction};
use command_api::reactions::runner::Reaction;
use command_api::services::Clock;
use command_api::services::campaigns::{Campaigns, NewCampaign};
use domain::{Money, Quantity, SellerId, Sku, SkuCreated, SkuEvent, SkuId};
use event_store::{Checkpoint, EventMetadata, EventStore};
use ids::ManualClock;
use sqlx::PgPool;

const STOCK: u32 = 10;
const CAMPAIGN_UNITS: u32 = 4;
/// 2026-12-01 12:00 UTC.
const T0_MS: u64 = 1_796_126_400_000;
const WINDOW_MS: u64 = 60_000;

fn at(ms: u64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(i64::try_from(ms).unwrap()).unwrap()
}

async fn available(store: &EventStore) -> u64 {
    store
        .load::<Sku>("tea")
        .await
        .unwrap()
        .aggregate
        .available()
}

/// Records the end times of every campaign in the log, as the reaction does.
async fn record_ends(store: &EventStore) {
    let reaction = CampaignEndsReaction::new(store);
    for event in store.read_after(Checkpoint::START, 10_000).await.unwrap() {
        reaction.react(&event).await.unwrap();
    }
}

async fn a_campaign_s_rest_returns_to_the_sku_once_after_its_end_time(store: EventStore) {
    let created = SkuEvent::SkuCreated(SkuCreated {
        sku: SkuId::parse("tea").unwrap(),
        seller: SellerId::parse("shop-1").unwrap(),
        initial_stock: STOCK,
        at: at(T0_MS),
    });
    store
        .append::<Sku>("tea", 0, &[created], &EventMetadata::default())
        .await
        .unwrap();
    let clock = Arc::new(ManualClock::new(T0_MS));
    let campaigns = Campaigns::new(Stores::one(store.clone()), Clock::new(clock.clone()));
    let new = NewCampaign {
        seller: SellerId::parse("shop-1").unwrap(),
        sku: SkuId::parse("tea").unwrap(),
        starts_at: None,
        ends_at: at(T0_MS + WINDOW_MS),
        price: Money::from_minor(199).unwrap(),
        stock: CAMPAIGN_UNITS,
        limit_per_buyer: Quantity::new(1).unwrap(),
    };
    campaigns
        .create(new, None, &EventMetadata::default())
        .await
        .unwrap();
    assert_eq!(available(&store).await, u64::from(STOCK - CAMPAIGN_UNITS));
    // the log is read on PostgreSQL once every transaction before it ended: wait for it
    for _ in 0..1_000 {
        if store.read_after(Checkpoint::START, 10).await.unwrap().len() >= 4 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    record_ends(&store).await;
    let enders: Vec<CampaignEnder> = (0..3)
        .map(|_| {
            CampaignEnder::new(
                Stores::one(store.clone()),
                &store,
                Clock::new(clock.clone()),
            )
        })
        .collect();

    clock.set_wall_ms(T0_MS + WINDOW_MS - 1);
    assert_eq!(enders[0].end_due().await.unwrap(), 0);
    assert_eq!(available(&store).await, u64::from(STOCK - CAMPAIGN_UNITS));

    // three timers at once, as nodes whose lease changed hands mid-round would
    clock.set_wall_ms(T0_MS + WINDOW_MS);
    let ended = futures::future::join_all(enders.iter().map(CampaignEnder::end_due)).await;
    let ended: usize = ended.into_iter().map(Result::unwrap).sum();
    assert!(ended >= 1, "the campaign ended");
    assert_eq!(available(&store).await, u64::from(STOCK));
    // a later round finds nothing due, and the events do not grow
    let events = store.read_stream("Sku", "tea").await.unwrap().len();
    assert_eq!(enders[0].end_due().await.unwrap(), 0);
    assert_eq!(store.read_stream("Sku", "tea").await.unwrap().len(), events);
}

#[tokio::test]
async fn sqlite_a_campaign_s_rest_returns_to_the_sku_once_after_its_end_time() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("events.db").display());
    let store = EventStore::connect(&url).await.unwrap();
    command_api::migrations::run(&store).await.unwrap();
    a_campaign_s_rest_returns_to_the_sku_once_after_its_end_time(store).await;
}

#[sqlx::test(migrator = "command_api::MIGRATOR")]
async fn postgres_a_campaign_s_rest_returns_to_the_sku_once_after_its_end_time(pool: PgPool) {
    a_campaign_s_rest_returns_to_the_sku_once_after_its_end_time(EventStore::postgres(pool)).await;
}
