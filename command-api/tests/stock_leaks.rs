//! Stock is never held by an order that does not exist (ADR 32), on both backends: a
//! `PlacementRejected` whose placement died before releasing is released by the placement
//! reactions, and reservations that no order took are released by the sweeper once they are
//! older than its bound, a campaign placement's unit in its bucket and its buyer's claim too.
//! The crashes are simulated by appending a placement's events directly, stopping where its
//! process would have died; time is passed in, nothing sleeps.
#![allow(clippy::unwrap_used, clippy::expect_used, unreachable_pub)]

use shards::Stores;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use command_api::reactions::placement::PlacementReactions;
use command_api::reactions::placement_sweeper::{PlacementSweeper, Swept};
use command_api::reactions::runner::Reaction;
use domain::{
    BucketCommand, BuyerCommand, BuyerId, Campaign, CampaignBucket, CampaignBuyer, CampaignCommand,
    CampaignId, CampaignLine, CreateCampaign, Money, Order, OrderCommand, OrderError, OrderEvent,
    OrderId, OrderItem, OrderPlaced, PlaceOrder, PlacementRejected, ProductSnapshot, ProductTitle,
    Quantity, RejectionReason, SellerId, Sku, SkuCreated, SkuEvent, SkuId, StockReserved,
    bucket_stream_id, buyer_stream_id,
};
use event_store::{Checkpoint, EventMetadata, EventStore, RecordedEvent};
use sqlx::PgPool;

const ABANDONED_AFTER_SECS: i64 = 300;
const STOCK: u32 = 10;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0)
        .single()
        .unwrap()
}

fn order_id(n: u64) -> OrderId {
    OrderId::new(n).unwrap()
}

async fn create_sku(store: &EventStore, sku: &str) {
    let created = SkuEvent::SkuCreated(SkuCreated {
        sku: SkuId::parse(sku).unwrap(),
        seller: SellerId::parse("shop-1").unwrap(),
        initial_stock: STOCK,
        at: t0(),
    });
    store
        .append::<Sku>(sku, 0, &[created], &EventMetadata::default())
        .await
        .unwrap();
}

/// Appends a reservation of `quantity` units of `sku` for order `order`, as a placement does.
async fn reserve(store: &EventStore, sku: &str, order: u64, quantity: u32, at: DateTime<Utc>) {
    let version = store.load::<Sku>(sku).await.unwrap().version;
    let reserved = SkuEvent::StockReserved(StockReserved {
        order_id: order_id(order),
        quantity: Quantity::new(quantity).unwrap(),
        at,
    });
    let meta = EventMetadata {
        dedup_key: Some(format!("reserve:{}", order_id(order))),
        ..EventMetadata::default()
    };
    store
        .append::<Sku>(sku, version, &[reserved], &meta)
        .await
        .unwrap();
}

async fn reject(store: &EventStore, order: u64) {
    let rejected = OrderEvent::PlacementRejected(PlacementRejected {
        order_id: order_id(order),
        buyer: Some(BuyerId::parse("b-1").unwrap()),
        reason: RejectionReason::OutOfStock {
            sku: SkuId::parse("cup").unwrap(),
        },
        at: t0(),
    });
    store
        .append::<Order>(
            &order_id(order).to_string(),
            0,
            &[rejected],
            &EventMetadata::default(),
        )
        .await
        .unwrap();
}

fn snapshot(sku: &str) -> ProductSnapshot {
    ProductSnapshot {
        sku: SkuId::parse(sku).unwrap(),
        seller: SellerId::parse("shop-1").unwrap(),
        title: ProductTitle::parse("Tea").unwrap(),
        unit_price: Money::from_minor(250).unwrap(),
        version: 1,
    }
}

/// Appends `OrderPlaced` for order `order` of buyer b-1 with one unit of `sku`.
async fn place(store: &EventStore, order: u64, sku: &str) {
    place_as(store, order, sku, ("b-1", None)).await;
}

/// Appends `OrderPlaced` for order `order` of `buyer` with one unit of `sku`, in `campaign`
/// when given.
async fn place_as(
    store: &EventStore,
    order: u64,
    sku: &str,
    (buyer, campaign): (&str, Option<CampaignLine>),
) {
    let price = Money::from_minor(250).unwrap();
    let placed = OrderEvent::OrderPlaced(OrderPlaced {
        order_id: order_id(order),
        buyer: BuyerId::parse(buyer).unwrap(),
        seller: SellerId::parse("shop-1").unwrap(),
        items: vec![OrderItem {
            line: 0,
            sku: SkuId::parse(sku).unwrap(),
            quantity: Quantity::new(1).unwrap(),
            snapshot: snapshot(sku),
            list_total: price,
            discount: Money::zero(),
            paid_amount: price,
        }],
        list_total: price,
        discount: Money::zero(),
        total: price,
        placed_at: t0(),
        payment_due_at: t0() + chrono::Duration::minutes(15),
        campaign,
    });
    store
        .append::<Order>(
            &order_id(order).to_string(),
            0,
            &[placed],
            &EventMetadata::default(),
        )
        .await
        .unwrap();
}

/// The `expected` events of the log after `after`, as the runner hands them to a reaction.
/// On PostgreSQL the log's readers wait for every transaction running in the cluster (ADR 1),
/// other tests' included, so the latest events may take a moment to be readable.
async fn log_after(
    store: &EventStore,
    after: Checkpoint,
    expected: usize,
) -> Vec<Arc<RecordedEvent>> {
    for _ in 0..1_000 {
        let events = store.read_after(after, 10_000).await.unwrap();
        if events.len() >= expected {
            assert_eq!(events.len(), expected, "{events:#?}");
            return events.into_iter().map(Arc::new).collect();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the log did not show {expected} events after {after:?}");
}

/// Applies the placement reactions to the log's first `events` events, then gives a sweeper
/// of the test's bound, checked to leave everything alone a second before the bound.
async fn sweeper_after_reactions(store: &EventStore, events: usize) -> PlacementSweeper {
    PlacementReactions::new(Stores::one(store.clone()))
        .react_batch(&log_after(store, Checkpoint::START, events).await)
        .await
        .unwrap();
    let sweeper = PlacementSweeper::new(
        Stores::one(store.clone()),
        store.db(),
        Duration::from_secs(300),
    );
    assert_eq!(
        sweep_at(&sweeper, ABANDONED_AFTER_SECS - 1).await,
        Swept::default()
    );
    sweeper
}

/// One round of `sweeper`, `secs` after the tests' start time.
async fn sweep_at(sweeper: &PlacementSweeper, secs: i64) -> Swept {
    sweeper
        .sweep(t0() + chrono::Duration::seconds(secs))
        .await
        .unwrap()
}

/// Events in the streams of the tests' SKUs and orders (read by stream: a read of the log's
/// head may trail the latest commits by a moment on PostgreSQL).
async fn log_len(store: &EventStore) -> usize {
    let mut events = 0;
    for sku in ["tea", "mug"] {
        events += store.read_stream("Sku", sku).await.unwrap().len();
    }
    for order in ["1001", "2001", "2002"] {
        events += store.read_stream("Order", order).await.unwrap().len();
    }
    events
}

/// (available, reserved) of `sku`, from the log.
async fn stock(store: &EventStore, sku: &str) -> (u64, u64) {
    let sku = store.load::<Sku>(sku).await.unwrap().aggregate;
    (sku.available(), sku.reserved())
}

async fn a_rejection_whose_release_was_lost_releases_every_reservation(store: EventStore) {
    create_sku(&store, "tea").await;
    create_sku(&store, "mug").await;
    reserve(&store, "tea", 1001, 2, t0()).await;
    reserve(&store, "mug", 1001, 1, t0()).await;
    reserve(&store, "tea", 1002, 3, t0()).await; // another order's, left alone
    let reactions = PlacementReactions::new(Stores::one(store.clone()));
    // the reservations and the rejection in two batches, as a reaction may read them
    let reservations = log_after(&store, Checkpoint::START, 5).await;
    reactions.react_batch(&reservations).await.unwrap();
    // the placement's process dies after its rejection, before its release
    reject(&store, 1001).await;
    let rejection = log_after(&store, reservations.last().unwrap().checkpoint(), 1).await;

    reactions.react_batch(&rejection).await.unwrap();

    assert_eq!(stock(&store, "tea").await, (u64::from(STOCK) - 3, 3));
    assert_eq!(stock(&store, "mug").await, (u64::from(STOCK), 0));
    // the whole log again (a retry, or a restart from an old checkpoint) releases nothing more
    let before = log_len(&store).await;
    PlacementReactions::new(Stores::one(store.clone()))
        .react_batch(&log_after(&store, Checkpoint::START, 8).await)
        .await
        .unwrap();
    assert_eq!(log_len(&store).await, before);
    assert_eq!(stock(&store, "tea").await, (u64::from(STOCK) - 3, 3));
}

async fn a_reservation_without_an_order_is_released_after_the_bound(store: EventStore) {
    create_sku(&store, "tea").await;
    create_sku(&store, "mug").await;
    // 2001: reserved, its placement died before it wrote anything to the order stream
    reserve(&store, "tea", 2001, 3, t0()).await;
    // 2002: placed with tea; the mug reserved by a repeat that died before giving it back
    reserve(&store, "tea", 2002, 1, t0()).await;
    place(&store, 2002, "tea").await;
    reserve(&store, "mug", 2002, 1, t0()).await;
    let sweeper = sweeper_after_reactions(&store, 6).await;
    assert_eq!(stock(&store, "tea").await, (u64::from(STOCK) - 4, 4));

    let late = sweep_at(&sweeper, ABANDONED_AFTER_SECS + 1).await;

    assert_eq!(
        late,
        Swept {
            abandoned: 1,
            released: 2
        }
    );
    // the placed order keeps its unit of tea; the rest went back
    assert_eq!(stock(&store, "tea").await, (u64::from(STOCK) - 1, 1));
    assert_eq!(stock(&store, "mug").await, (u64::from(STOCK), 0));
    let abandoned = store.load::<Order>("2001").await.unwrap().aggregate;
    let rejection = abandoned.rejection().expect("the order id is claimed");
    assert_eq!(rejection.reason, RejectionReason::Abandoned);
    assert_eq!(rejection.buyer, None);
    // a late placement of the abandoned id is refused before it reserves anything
    let late_placement = OrderCommand::PlaceOrder(PlaceOrder {
        order_id: order_id(2001),
        buyer: BuyerId::parse("b-1").unwrap(),
        seller: SellerId::parse("shop-1").unwrap(),
        items: vec![domain::ItemRequest {
            quantity: Quantity::new(3).unwrap(),
            snapshot: snapshot("tea"),
        }],
        discount: Money::zero(),
        placed_at: t0(),
        payment_due_at: t0(),
        campaign: None,
    });
    assert_eq!(
        abandoned.decide(late_placement),
        Err(OrderError::PlacementWasRejected)
    );
    let placed = store.load::<Order>("2002").await.unwrap().aggregate;
    assert!(placed.exists() && placed.rejection().is_none());

    // another round, and the reactions reading the sweeper's events, change nothing
    let before = log_len(&store).await;
    PlacementReactions::new(Stores::one(store.clone()))
        .react_batch(&log_after(&store, Checkpoint::START, 9).await)
        .await
        .unwrap();
    let again = sweep_at(&sweeper, 10 * ABANDONED_AFTER_SECS).await;
    assert_eq!(again, Swept::default());
    assert_eq!(log_len(&store).await, before);
}

const CAMPAIGN: &str = "c-1";

fn campaign_id() -> CampaignId {
    CampaignId::parse(CAMPAIGN).unwrap()
}

/// Appends a campaign of `stock` units of tea, one per bucket, limit one per buyer.
async fn create_campaign(store: &EventStore, stock: u32) {
    let created = Campaign::default()
        .decide(CampaignCommand::CreateCampaign(CreateCampaign {
            campaign_id: campaign_id(),
            sku: SkuId::parse("tea").unwrap(),
            seller: SellerId::parse("shop-1").unwrap(),
            starts_at: t0(),
            ends_at: t0() + chrono::Duration::hours(1),
            price: Money::from_minor(199).unwrap(),
            stock,
            limit_per_buyer: Quantity::new(1).unwrap(),
            at: t0(),
        }))
        .unwrap();
    store
        .append::<Campaign>(CAMPAIGN, 0, &created, &EventMetadata::default())
        .await
        .unwrap();
}

/// Appends what a campaign placement of `order` by `buyer` writes before its order: the
/// buyer's claim, then a unit reserved in bucket `bucket` (a share of one unit).
async fn claim_and_reserve(store: &EventStore, order: u64, buyer: &str, bucket: u32) {
    let record = buyer_stream_id(&campaign_id(), &BuyerId::parse(buyer).unwrap());
    let claimed = CampaignBuyer::default()
        .decide(BuyerCommand::Claim {
            order_id: order_id(order),
            quantity: Quantity::new(1).unwrap(),
            limit: Quantity::new(1).unwrap(),
            at: t0(),
        })
        .unwrap();
    let meta = |key: &str| EventMetadata {
        dedup_key: Some(format!("{key}:{}", order_id(order))),
        ..EventMetadata::default()
    };
    store
        .append::<CampaignBuyer>(&record, 0, &claimed, &meta("claim"))
        .await
        .unwrap();
    let reserved = CampaignBucket::default()
        .decide(BucketCommand::Reserve {
            share: 1,
            order_id: order_id(order),
            quantity: Quantity::new(1).unwrap(),
            at: t0(),
        })
        .unwrap();
    let stream = bucket_stream_id(&campaign_id(), bucket);
    store
        .append::<CampaignBucket>(&stream, 0, &reserved, &meta("reserve"))
        .await
        .unwrap();
}

async fn bucket(store: &EventStore, bucket: u32) -> CampaignBucket {
    let stream = bucket_stream_id(&campaign_id(), bucket);
    store
        .load::<CampaignBucket>(&stream)
        .await
        .unwrap()
        .aggregate
}

async fn buyer_record(store: &EventStore, buyer: &str) -> CampaignBuyer {
    let record = buyer_stream_id(&campaign_id(), &BuyerId::parse(buyer).unwrap());
    store
        .load::<CampaignBuyer>(&record)
        .await
        .unwrap()
        .aggregate
}

/// Events in the campaign's bucket and buyer streams and its orders'.
async fn campaign_log_len(store: &EventStore) -> usize {
    let mut events = 0;
    for bucket in 0..2 {
        let stream = bucket_stream_id(&campaign_id(), bucket);
        events += store
            .read_stream("CampaignBucket", &stream)
            .await
            .unwrap()
            .len();
    }
    for buyer in ["b-1", "b-2"] {
        let record = buyer_stream_id(&campaign_id(), &BuyerId::parse(buyer).unwrap());
        events += store
            .read_stream("CampaignBuyer", &record)
            .await
            .unwrap()
            .len();
    }
    for order in ["4001", "4002"] {
        events += store.read_stream("Order", order).await.unwrap().len();
    }
    events
}

async fn an_abandoned_campaign_placement_gets_its_unit_and_claim_back_after_the_bound(
    store: EventStore,
) {
    create_sku(&store, "tea").await;
    create_campaign(&store, 2).await;
    // 4001: claimed and reserved in bucket 0, its placement died before its order
    claim_and_reserve(&store, 4001, "b-1", 0).await;
    // 4002: claimed, reserved in bucket 1 and placed
    claim_and_reserve(&store, 4002, "b-2", 1).await;
    let line = CampaignLine {
        campaign_id: campaign_id(),
        bucket: 1,
    };
    place_as(&store, 4002, "tea", ("b-2", Some(line))).await;
    let sweeper = sweeper_after_reactions(&store, 9).await;
    assert_eq!(
        bucket(&store, 0).await.held(order_id(4001)),
        Some(Quantity::new(1).unwrap())
    );

    let late = sweep_at(&sweeper, ABANDONED_AFTER_SECS + 1).await;

    assert_eq!(
        late,
        Swept {
            abandoned: 1,
            released: 2
        }
    );
    // 4001's unit is the campaign's again and its buyer's claim no longer counts
    let freed = bucket(&store, 0).await;
    assert_eq!(
        (freed.held(order_id(4001)), freed.available_of(1)),
        (None, 1)
    );
    let b1 = buyer_record(&store, "b-1").await;
    assert_eq!((b1.held(), b1.counts(order_id(4001))), (0, false));
    let abandoned = store.load::<Order>("4001").await.unwrap().aggregate;
    assert_eq!(
        abandoned.rejection().map(|r| r.reason.clone()),
        Some(RejectionReason::Abandoned)
    );
    // the placed order keeps its unit and its claim
    assert_eq!(
        bucket(&store, 1).await.held(order_id(4002)),
        Some(Quantity::new(1).unwrap())
    );
    assert_eq!(buyer_record(&store, "b-2").await.held(), 1);

    // another round, and the reactions reading the sweeper's events, change nothing
    let before = campaign_log_len(&store).await;
    PlacementReactions::new(Stores::one(store.clone()))
        .react_batch(&log_after(&store, Checkpoint::START, 12).await)
        .await
        .unwrap();
    let again = sweep_at(&sweeper, 10 * ABANDONED_AFTER_SECS).await;
    assert_eq!(again, Swept::default());
    assert_eq!(campaign_log_len(&store).await, before);
}

async fn a_rejected_campaign_placement_whose_release_was_lost_gives_its_unit_and_claim_back(
    store: EventStore,
) {
    create_sku(&store, "tea").await;
    create_campaign(&store, 2).await;
    claim_and_reserve(&store, 4001, "b-1", 0).await;
    let reactions = PlacementReactions::new(Stores::one(store.clone()));
    let reservations = log_after(&store, Checkpoint::START, 5).await;
    reactions.react_batch(&reservations).await.unwrap();
    // the placement's process dies after its rejection, before its give-back
    reject(&store, 4001).await;
    let rejection = log_after(&store, reservations.last().unwrap().checkpoint(), 1).await;

    reactions.react_batch(&rejection).await.unwrap();

    let freed = bucket(&store, 0).await;
    assert_eq!(
        (freed.held(order_id(4001)), freed.available_of(1)),
        (None, 1)
    );
    assert_eq!(buyer_record(&store, "b-1").await.held(), 0);
}

async fn sqlite() -> (EventStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("events.db").display());
    let store = EventStore::connect(&url).await.unwrap();
    command_api::migrations::run(&store).await.unwrap();
    (store, dir)
}

#[tokio::test]
async fn sqlite_a_rejection_whose_release_was_lost_releases_every_reservation() {
    let (store, _dir) = sqlite().await;
    a_rejection_whose_release_was_lost_releases_every_reservation(store).await;
}

#[sqlx::test(migrator = "command_api::MIGRATOR")]
async fn postgres_a_rejection_whose_release_was_lost_releases_every_reservation(pool: PgPool) {
    a_rejection_whose_release_was_lost_releases_every_reservation(EventStore::postgres(pool)).await;
}

#[tokio::test]
async fn sqlite_a_reservation_without_an_order_is_released_after_the_bound() {
    let (store, _dir) = sqlite().await;
    a_reservation_without_an_order_is_released_after_the_bound(store).await;
}

#[sqlx::test(migrator = "command_api::MIGRATOR")]
async fn postgres_a_reservation_without_an_order_is_released_after_the_bound(pool: PgPool) {
    a_reservation_without_an_order_is_released_after_the_bound(EventStore::postgres(pool)).await;
}

#[tokio::test]
async fn sqlite_an_abandoned_campaign_placement_gets_its_unit_and_claim_back_after_the_bound() {
    let (store, _dir) = sqlite().await;
    an_abandoned_campaign_placement_gets_its_unit_and_claim_back_after_the_bound(store).await;
}

#[sqlx::test(migrator = "command_api::MIGRATOR")]
async fn postgres_an_abandoned_campaign_placement_gets_its_unit_and_claim_back_after_the_bound(
    pool: PgPool,
) {
    an_abandoned_campaign_placement_gets_its_unit_and_claim_back_after_the_bound(
        EventStore::postgres(pool),
    )
    .await;
}

#[tokio::test]
async fn sqlite_a_rejected_campaign_placement_whose_release_was_lost_gives_its_unit_and_claim_back()
{
    let (store, _dir) = sqlite().await;
    a_rejected_campaign_placement_whose_release_was_lost_gives_its_unit_and_claim_back(store).await;
}

#[sqlx::test(migrator = "command_api::MIGRATOR")]
async fn postgres_a_rejected_campaign_placement_whose_release_was_lost_gives_its_unit_and_claim_back(
    pool: PgPool,
) {
    a_rejected_campaign_placement_whose_release_was_lost_gives_its_unit_and_claim_back(
        EventStore::postgres(pool),
    )
    .await;
}
