//! The cold archive against real stores: a batch moves settled old orders only, a batch that
//! fails or is killed midway moves nothing and a rerun moves each order once, a late event
//! brings an archived order back, a replay keeps every order in one place, and reconcile
//! compares the archive with the log. Each test runs on PostgreSQL (a fresh database per test)
//! and on SQLite (a temporary file).
#![allow(clippy::unwrap_used, clippy::expect_used, unreachable_pub)]

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use common::{eventually_reconciled, sqlite_store};
use domain::{
    BuyerId, CancelOrder, CancelReason, CompleteRefund, ConfirmPayment, ConfirmReceipt, Money,
    Order, OrderCommand, OrderEvent, OrderId, OrderItem, OrderPlaced, ProductSnapshot,
    ProductTitle, Quantity, RefundId, RefundItem, RequestRefund, SellerId, ShipOrder, SkuId,
    TrackingNumber, TxnId,
};
use event_store::{EventMetadata, EventStore};
use projections::archive::ArchiveRun;
use projections::{
    Archiver, Cursor, OrderDocument, Owner, Projection, ProjectionMetrics, ReadModels, Runner,
    Shelf,
};
use tokio_util::sync::CancellationToken;

/// Orders per group; the old group is written before the cutoff, the recent one after.
const GROUP: u64 = 20;
const PRICE_CENTS: i64 = 250;
const THRESHOLD_DAYS: i64 = 90;
const BUYERS: u64 = 3;

/// What an order of the fixture goes through; every fifth order ends in each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    Pending,
    Paid,
    Cancelled,
    Completed,
    Refunded,
}

impl Fate {
    fn of(n: u64) -> Self {
        match n % 5 {
            0 => Self::Pending,
            1 => Self::Paid,
            2 => Self::Cancelled,
            3 => Self::Completed,
            _ => Self::Refunded,
        }
    }

    fn settled(self) -> bool {
        matches!(self, Self::Cancelled | Self::Completed | Self::Refunded)
    }
}

fn id_of(n: u64) -> String {
    (1_000 + n).to_string()
}

fn buyer_of(n: u64) -> String {
    format!("b-{}", n % BUYERS)
}

fn placed(n: u64) -> OrderPlaced {
    let price = Money::from_minor(PRICE_CENTS).unwrap();
    let now = Utc::now();
    OrderPlaced {
        order_id: OrderId::new(1_000 + n).unwrap(),
        buyer: BuyerId::parse(&buyer_of(n)).unwrap(),
        seller: SellerId::parse("shop-1").unwrap(),
        items: vec![OrderItem {
            line: 0,
            sku: SkuId::parse("tea").unwrap(),
            quantity: Quantity::new(1).unwrap(),
            snapshot: ProductSnapshot {
                sku: SkuId::parse("tea").unwrap(),
                seller: SellerId::parse("shop-1").unwrap(),
                title: ProductTitle::parse("Tea").unwrap(),
                unit_price: price,
                version: 1,
            },
            list_total: price,
            discount: Money::zero(),
            paid_amount: price,
        }],
        list_total: price,
        discount: Money::zero(),
        total: price,
        placed_at: now,
        payment_due_at: now + TimeDelta::minutes(15),
        campaign: None,
    }
}

/// Decides `command` on order `n` as the log has it and appends what it decides.
async fn act(store: &EventStore, n: u64, key: &str, command: OrderCommand) {
    let id = id_of(n);
    let loaded = store.load::<Order>(&id).await.unwrap();
    let events = loaded.aggregate.decide(command).unwrap();
    let meta = EventMetadata {
        dedup_key: Some(format!("{key}:{id}")),
        actor: Some("test".into()),
        ..EventMetadata::default()
    };
    store
        .append::<Order>(&id, loaded.version, &events, &meta)
        .await
        .unwrap();
}

fn pay(n: u64) -> OrderCommand {
    OrderCommand::ConfirmPayment(ConfirmPayment {
        txn_id: TxnId::parse(&format!("T-{n}")).unwrap(),
        amount: Money::from_minor(PRICE_CENTS).unwrap(),
        at: Utc::now(),
    })
}

fn refund(n: u64, refund: &str) -> OrderCommand {
    OrderCommand::RequestRefund(RequestRefund {
        refund_id: RefundId::parse(&format!("{refund}-{n}")).unwrap(),
        items: vec![RefundItem {
            line: 0,
            quantity: Quantity::new(1).unwrap(),
        }],
        at: Utc::now(),
    })
}

/// Writes orders `from..to`, each to its [`Fate`].
async fn write_orders(store: &EventStore, from: u64, to: u64) {
    for n in from..to {
        let id = id_of(n);
        let meta = EventMetadata {
            dedup_key: Some(format!("place:{id}")),
            ..EventMetadata::default()
        };
        store
            .append::<Order>(&id, 0, &[OrderEvent::OrderPlaced(placed(n))], &meta)
            .await
            .unwrap();
        let now = Utc::now();
        match Fate::of(n) {
            Fate::Pending => {}
            Fate::Paid => act(store, n, "pay", pay(n)).await,
            Fate::Cancelled => {
                let cancel = CancelOrder {
                    reason: CancelReason::BuyerCancelled,
                    at: now,
                };
                act(store, n, "cancel", OrderCommand::CancelOrder(cancel)).await;
            }
            Fate::Completed => {
                act(store, n, "pay", pay(n)).await;
                let ship = ShipOrder {
                    tracking_number: Some(TrackingNumber::parse("TN-1").unwrap()),
                    at: now,
                };
                act(store, n, "ship", OrderCommand::ShipOrder(ship)).await;
                let receive = ConfirmReceipt { at: now };
                act(store, n, "receive", OrderCommand::ConfirmReceipt(receive)).await;
            }
            Fate::Refunded => {
                act(store, n, "pay", pay(n)).await;
                act(store, n, "refund", refund(n, "R")).await;
                let done = CompleteRefund {
                    refund_id: RefundId::parse(&format!("R-{n}")).unwrap(),
                    at: now,
                };
                act(store, n, "refunded", OrderCommand::CompleteRefund(done)).await;
            }
        }
    }
}

/// The fixture: an old group of orders, then (a moment later) a recent one. Returns the cutoff
/// between them: an archiver whose clock reads `cutoff + THRESHOLD_DAYS` archives the old
/// group's settled orders only.
async fn write_log(store: &EventStore) -> DateTime<Utc> {
    write_orders(store, 0, GROUP).await;
    // SQLite records milliseconds: keep clear of both groups
    tokio::time::sleep(Duration::from_millis(20)).await;
    let cutoff = Utc::now();
    tokio::time::sleep(Duration::from_millis(20)).await;
    write_orders(store, GROUP, 2 * GROUP).await;
    catch_up(store).await;
    cutoff
}

/// Orders of the fixture that an archive at the fixture's cutoff moves.
fn archivable() -> BTreeSet<String> {
    (0..GROUP)
        .filter(|n| Fate::of(*n).settled())
        .map(id_of)
        .collect()
}

fn archiver(store: &EventStore, cutoff: DateTime<Utc>, batch_size: u32) -> Archiver {
    let now = cutoff + TimeDelta::days(THRESHOLD_DAYS);
    Archiver::new(store, TimeDelta::days(THRESHOLD_DAYS), batch_size).with_clock(move || now)
}

/// Applies the log to the views (on PostgreSQL a writing transaction elsewhere in the cluster
/// holds readers back for a moment, ADR 1: the caller's own writes may need a second look).
async fn catch_up(store: &EventStore) {
    let metrics = ProjectionMetrics::unregistered().unwrap();
    for _ in 0..200 {
        match Runner::new(store.clone(), Projection::Orders, metrics.clone())
            .catch_up()
            .await
        {
            // a running runner applied the batch first: it is applied either way
            Ok(_) | Err(projections::ProjectionError::CheckpointMoved(..)) => {}
            Err(err) => panic!("{err}"),
        }
        if views_caught_up(store).await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the order views did not catch up with the log");
}

/// Whether every order's copy is at the log's version (wherever it is).
async fn views_caught_up(store: &EventStore) -> bool {
    let models = ReadModels::new(store);
    for n in 0..2 * GROUP {
        let id = id_of(n);
        let version = store.load::<Order>(&id).await.unwrap().version;
        match models.order(&id).await.unwrap() {
            Some(stored) if stored.version == version => {}
            _ => return false,
        }
    }
    true
}

/// Every order of the fixture is in exactly one place, hot (the detail view, which the lists
/// index) or archived (the archive alone), and equal there to a fresh replay of its stream,
/// listed under its buyer and seller. Returns the archived ids.
async fn each_order_once_as_the_log_says(store: &EventStore) -> Result<BTreeSet<String>, String> {
    let models = ReadModels::new(store);
    let mut archived = BTreeSet::new();
    for n in 0..2 * GROUP {
        let id = id_of(n);
        let loaded = store.load::<Order>(&id).await.unwrap();
        let expected = OrderDocument::of(&loaded.aggregate, loaded.version).unwrap();
        let copies = models.order_copies(&id).await.unwrap();
        let views: Vec<&str> = copies.iter().map(|c| c.view.as_str()).collect();
        match views.as_slice() {
            ["order_archive"] => {
                archived.insert(id.clone());
            }
            ["order_detail"] => {}
            other => return Err(format!("order {id} is in {other:?}")),
        }
        for copy in &copies {
            if copy.order.document != expected
                || copy.order.content_hash != expected.content_hash()
                || (copy.buyer_id.as_str(), copy.seller_id.as_str())
                    != (expected.buyer_id.as_str(), expected.seller_id.as_str())
            {
                return Err(format!(
                    "order {id} in {} is not the log's: {copy:?}",
                    copy.view
                ));
            }
        }
        let fallback = models.order(&id).await.unwrap();
        if fallback.map(|o| o.document) != Some(expected) {
            return Err(format!("order {id} is not answered as the log says"));
        }
    }
    let counts = models.order_row_counts().await.unwrap();
    let hot = i64::try_from(2 * GROUP as usize - archived.len()).unwrap();
    let expected = [hot, i64::try_from(archived.len()).unwrap()];
    if counts != expected {
        return Err(format!("row counts {counts:?}, expected {expected:?}"));
    }
    Ok(archived)
}

async fn execute(store: &EventStore, postgres: &str, sqlite: &str) {
    match (store.postgres_pool(), store.sqlite_pool()) {
        (Some(pg), _) => {
            sqlx::raw_sql(postgres).execute(pg).await.unwrap();
        }
        (None, Some(lite)) => {
            sqlx::raw_sql(sqlite).execute(lite).await.unwrap();
        }
        (None, None) => unreachable!(),
    }
}

async fn a_batch_moves_settled_orders_older_than_the_cutoff_and_nothing_else(store: EventStore) {
    let cutoff = write_log(&store).await;
    let archiver = archiver(&store, cutoff, 4);
    let expected = archivable();
    // the total a run's progress counts towards, before it starts
    assert_eq!(archiver.archivable().await.unwrap(), expected.len() as u64);
    let mut batches = Vec::new();
    let run = archiver
        .run(None, |b| batches.push(b.clone()))
        .await
        .unwrap();

    assert_eq!(archiver.archivable().await.unwrap(), 0);
    assert_eq!(run.moved, expected.len() as u64);
    assert_eq!(run.batches, batches.len() as u64);
    assert_eq!(run.batches, (expected.len() as u64).div_ceil(4));
    assert!(batches[..batches.len() - 1].iter().all(|b| b.moved == 4));
    assert_eq!(
        each_order_once_as_the_log_says(&store).await.unwrap(),
        expected
    );

    // the mark: the newest order moved, stored with the counts
    let progress = archiver.progress().await.unwrap();
    assert_eq!(progress, run.progress);
    assert_eq!(
        (progress.batches, progress.orders),
        (run.batches, run.moved)
    );
    let last = expected.iter().map(|id| id.parse::<u64>().unwrap()).max();
    assert_eq!(progress.order_id, last.unwrap().to_string());
    assert!(progress.mark().unwrap() < cutoff);

    // nothing is left to move; an archiver with a later clock takes the recent group too
    let again = archiver.run(None, |_| {}).await.unwrap();
    assert_eq!((again.moved, again.batches), (0, 0));
    let later = Archiver::new(&store, TimeDelta::days(THRESHOLD_DAYS), 100)
        .with_clock(|| Utc::now() + TimeDelta::days(THRESHOLD_DAYS + 1));
    let rest = later.run(Some(1), |_| {}).await.unwrap();
    assert_eq!(
        rest.moved,
        expected.len() as u64,
        "the recent group's settled orders"
    );
    assert_eq!(
        each_order_once_as_the_log_says(&store).await.unwrap().len(),
        2 * expected.len()
    );
}

async fn archived_orders_are_listed_by_owner_with_the_same_pagination(store: EventStore) {
    let cutoff = write_log(&store).await;
    archiver(&store, cutoff, 500)
        .run(None, |_| {})
        .await
        .unwrap();
    let models = ReadModels::new(&store);
    let buyer = buyer_of(2);
    let mut expected: Vec<String> = archivable()
        .into_iter()
        .filter(|id| buyer_of(id.parse::<u64>().unwrap() - 1_000) == buyer)
        .collect();
    expected.reverse(); // newest first: placed in id order
    assert!(
        expected.len() > 2,
        "the fixture gives the buyer several pages"
    );
    let mut seen = Vec::new();
    let mut cursor: Option<Cursor> = None;
    loop {
        let page = models
            .orders(
                Owner::Buyer(&buyer),
                Shelf::Archive,
                None,
                cursor.as_ref(),
                2,
            )
            .await
            .unwrap();
        seen.extend(page.iter().map(|o| o.document.order_id.clone()));
        if page.len() < 2 {
            break;
        }
        let last = page.last().unwrap();
        cursor = Some(Cursor {
            placed_at_us: last.placed_at_us,
            order_id: last.document.order_id.clone(),
        });
    }
    assert_eq!(seen, expected);
    let hot = models
        .orders(Owner::Buyer(&buyer), Shelf::Hot, None, None, 100)
        .await
        .unwrap();
    assert!(hot.iter().all(|o| !expected.contains(&o.document.order_id)));
    let cancelled = models
        .orders(
            Owner::Seller("shop-1"),
            Shelf::Archive,
            Some("Cancelled"),
            None,
            100,
        )
        .await
        .unwrap();
    assert!(!cancelled.is_empty() && cancelled.iter().all(|o| o.document.status == "Cancelled"));
    // the version a list request with min_version waits for is found in the archive too
    let archived = &expected[0];
    let version = models
        .listed_version(Owner::Buyer(&buyer), archived)
        .await
        .unwrap();
    assert_eq!(
        version,
        Some(store.load::<Order>(archived).await.unwrap().version)
    );
    let not_theirs = models
        .listed_version(Owner::Buyer("b-nobody"), archived)
        .await
        .unwrap();
    assert_eq!(not_theirs, None);
}

/// The test: a batch that fails after it has copied some orders to the archive and
/// removed some from the hot views moves nothing, and a rerun moves each order exactly once.
async fn an_archive_interrupted_mid_batch_loses_and_duplicates_nothing(store: EventStore) {
    let cutoff = write_log(&store).await;
    // sabotage: removing this order's detail row fails, after the batch has copied its
    // orders to the archive
    let victim = archivable().into_iter().nth(2).unwrap();
    execute(
        &store,
        &format!(
            "CREATE FUNCTION sabotage() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN RAISE EXCEPTION 'sabotage'; END $$; \
             CREATE TRIGGER sabotage BEFORE DELETE ON order_detail FOR EACH ROW \
             WHEN (OLD.order_id = '{victim}') EXECUTE FUNCTION sabotage();"
        ),
        &format!(
            "CREATE TRIGGER sabotage BEFORE DELETE ON order_detail \
             WHEN OLD.order_id = '{victim}' BEGIN SELECT RAISE(ABORT, 'sabotage'); END;"
        ),
    )
    .await;
    let archiver = archiver(&store, cutoff, 5);
    let failed = archiver.run(None, |_| {}).await;
    assert!(failed.is_err(), "the sabotaged batch fails");
    assert_eq!(
        each_order_once_as_the_log_says(&store).await.unwrap(),
        BTreeSet::new(),
        "the failed batch moved nothing"
    );
    assert_eq!(
        archiver.progress().await.unwrap().batches,
        0,
        "nor its mark"
    );

    execute(
        &store,
        "DROP TRIGGER sabotage ON order_detail",
        "DROP TRIGGER sabotage",
    )
    .await;
    let run = archiver.run(None, |_| {}).await.unwrap();
    assert_eq!(run.moved, archivable().len() as u64);
    assert_eq!(
        each_order_once_as_the_log_says(&store).await.unwrap(),
        archivable()
    );
    assert_eq!(archiver.run(None, |_| {}).await.unwrap().moved, 0);
}

/// An archiver killed at random points (a crash: the transaction in flight is rolled back)
/// while late events arrive for archived orders and the projection runs: in the end every
/// order is in one place, as the log says.
async fn an_archiver_killed_while_late_events_arrive_loses_and_duplicates_nothing(
    store: EventStore,
) {
    let cutoff = write_log(&store).await;
    let archiver = archiver(&store, cutoff, 2);
    // some orders are archived before the late events start
    let first = archiver.run(Some(2), |_| {}).await.unwrap();
    assert_eq!(first.moved, 4);
    let metrics = ProjectionMetrics::unregistered().unwrap();
    let shutdown = CancellationToken::new();
    let runner =
        tokio::spawn(Runner::new(store.clone(), Projection::Orders, metrics).run(shutdown.clone()));
    // late events for settled old orders: payments after close, refunds after completion
    let writer = tokio::spawn({
        let store = store.clone();
        async move {
            for n in (0..GROUP).filter(|n| Fate::of(*n).settled()) {
                tokio::time::sleep(Duration::from_millis(5)).await;
                match Fate::of(n) {
                    Fate::Cancelled => act(&store, n, "late-pay", pay(n + 100)).await,
                    Fate::Completed => act(&store, n, "late-refund", refund(n, "L")).await,
                    _ => {}
                }
            }
        }
    });
    let mut kills = 0u64;
    while !writer.is_finished() {
        let attempt = tokio::spawn({
            let archiver = archiver.clone();
            async move {
                archiver
                    .run(None, |_| {})
                    .await
                    .map(|run: ArchiveRun| run.moved)
            }
        });
        tokio::time::sleep(Duration::from_millis(1 + (kills * 7) % 13)).await;
        attempt.abort();
        kills += 1;
    }
    writer.await.unwrap();
    assert!(kills > 1, "the archiver was killed while events arrived");
    catch_up(&store).await;
    shutdown.cancel();
    runner.await.unwrap();
    // a last run moves what is left; orders that changed after the cutoff (the late events)
    // are hot, archived or not before, and the rest are archived, each exactly once
    archiver.run(None, |_| {}).await.unwrap();
    let archived = each_order_once_as_the_log_says(&store).await.unwrap();
    let untouched: BTreeSet<String> = (0..GROUP)
        .filter(|n| Fate::of(*n) == Fate::Refunded)
        .map(id_of)
        .collect();
    assert_eq!(archived, untouched);
}

async fn a_late_event_brings_an_archived_order_back(store: EventStore) {
    let cutoff = write_log(&store).await;
    let archiver = archiver(&store, cutoff, 500);
    archiver.run(None, |_| {}).await.unwrap();
    let cancelled = (0..GROUP)
        .find(|n| Fate::of(*n) == Fate::Cancelled)
        .unwrap();
    let completed = (0..GROUP)
        .find(|n| Fate::of(*n) == Fate::Completed)
        .unwrap();
    act(&store, cancelled, "late-pay", pay(cancelled + 100)).await;
    act(&store, completed, "late-refund", refund(completed, "L")).await;
    catch_up(&store).await;

    let archived = each_order_once_as_the_log_says(&store).await.unwrap();
    let mut expected = archivable();
    expected.remove(&id_of(cancelled));
    expected.remove(&id_of(completed));
    assert_eq!(
        archived, expected,
        "both are hot again, with the late event applied"
    );
    let models = ReadModels::new(&store);
    let back = models.order(&id_of(cancelled)).await.unwrap().unwrap();
    assert_eq!(
        (back.version, back.document.after_close_owed_cents),
        (3, PRICE_CENTS)
    );
    let refunding = models.order(&id_of(completed)).await.unwrap().unwrap();
    assert_eq!(refunding.document.status, "Refunding");

    // still settled, still old (its last change is judged by a clock 90 days on): archived
    // again; the refunding one is not settled and stays hot
    let later = Archiver::new(&store, TimeDelta::days(THRESHOLD_DAYS), 500)
        .with_clock(|| Utc::now() + TimeDelta::days(THRESHOLD_DAYS + 1));
    later.run(None, |_| {}).await.unwrap();
    let archived = each_order_once_as_the_log_says(&store).await.unwrap();
    assert!(archived.contains(&id_of(cancelled)));
    assert!(!archived.contains(&id_of(completed)));
}

async fn a_replay_after_archiving_keeps_every_order_in_one_place(store: EventStore) {
    let cutoff = write_log(&store).await;
    archiver(&store, cutoff, 500)
        .run(None, |_| {})
        .await
        .unwrap();
    // a late event that the live views have not applied when the replay swaps in: the
    // rebuilt copy is newer than the archived one
    let cancelled = (0..GROUP)
        .find(|n| Fate::of(*n) == Fate::Cancelled)
        .unwrap();
    act(&store, cancelled, "late-pay", pay(cancelled + 100)).await;

    projections::replay::replay(&store, Projection::Orders, |_| {})
        .await
        .unwrap();
    catch_up(&store).await;
    let mut expected = archivable();
    expected.remove(&id_of(cancelled));
    assert_eq!(
        each_order_once_as_the_log_says(&store).await.unwrap(),
        expected
    );

    // and a replay with nothing pending leaves the archive as it is
    projections::replay::replay(&store, Projection::Orders, |_| {})
        .await
        .unwrap();
    assert_eq!(
        each_order_once_as_the_log_says(&store).await.unwrap(),
        expected
    );
}

async fn reconcile_compares_the_archive_with_the_log(store: EventStore) {
    let cutoff = write_log(&store).await;
    archiver(&store, cutoff, 500)
        .run(None, |_| {})
        .await
        .unwrap();
    let report = eventually_reconciled(&store, 2 * GROUP).await;
    assert_eq!(report.orders_archived, archivable().len() as u64);

    let victim = archivable().into_iter().next().unwrap();
    execute(
        &store,
        &format!(
            "UPDATE order_archive SET state = jsonb_set(state::jsonb, '{{state,total}}', '1')::text \
             WHERE order_id = '{victim}'"
        ),
        &format!(
            "UPDATE order_archive SET state = json_set(state, '$.state.total', 1) \
             WHERE order_id = '{victim}'"
        ),
    )
    .await;
    let report = projections::reconcile::reconcile(&store).await.unwrap();
    let found: Vec<_> = report
        .differences
        .iter()
        .map(|d| (d.kind.as_str(), d.view.as_str(), d.id.as_str()))
        .collect();
    assert_eq!(
        found,
        [("document", "order_archive", victim.as_str())],
        "{report:?}"
    );

    // an archived order that is also hot is reported, wherever the copies agree
    let other = archivable().into_iter().nth(1).unwrap();
    let copy_back = format!(
        "INSERT INTO order_detail (order_id, buyer_id, seller_id, status, placed_at_us, \
         version, content_hash, state, changed_at_us) \
         SELECT order_id, buyer_id, seller_id, status, placed_at_us, version, \
         content_hash, state, changed_at_us FROM order_archive WHERE order_id = '{other}'"
    );
    execute(&store, &copy_back, &copy_back).await;
    let report = projections::reconcile::reconcile(&store).await.unwrap();
    let found: BTreeSet<_> = report
        .differences
        .iter()
        .map(|d| (d.kind.as_str(), d.view.as_str(), d.id.as_str()))
        .collect();
    assert!(
        found.contains(&("duplicate", "order_detail", other.as_str())),
        "{report:?}"
    );
    assert!(
        found.contains(&("extra-rows", "order_detail", "*")),
        "{report:?}"
    );
}

/// PostgreSQL runs an archive batch and a projection batch at the same time: an order a
/// projection batch holds (it is changing) is skipped by the archive batch.
async fn an_archive_batch_skips_an_order_a_projection_batch_holds(pool: sqlx::PgPool) {
    let store = EventStore::postgres(pool.clone());
    let cutoff = write_log(&store).await;
    let held = archivable().into_iter().next().unwrap();
    // what a projection batch does first with an order an event is for
    let mut projection_batch = pool.begin().await.unwrap();
    sqlx::query("SELECT version FROM order_detail WHERE order_id = $1 FOR UPDATE")
        .bind(&held)
        .execute(&mut *projection_batch)
        .await
        .unwrap();
    let archiver = archiver(&store, cutoff, 500);
    let run = tokio::time::timeout(Duration::from_secs(5), archiver.run(None, |_| {}))
        .await
        .expect("the archive batch waits for no projection batch")
        .unwrap();
    assert_eq!(run.moved, archivable().len() as u64 - 1);
    projection_batch.commit().await.unwrap();
    let mut archived = each_order_once_as_the_log_says(&store).await.unwrap();
    assert!(archived.insert(held.clone()), "{held} stayed hot");
    assert_eq!(archiver.run(None, |_| {}).await.unwrap().moved, 1);
    assert_eq!(
        each_order_once_as_the_log_says(&store).await.unwrap(),
        archived
    );
}

/// The other way round: a projection batch that reaches an order an archive batch holds
/// waits for it, then finds the order in the archive and brings it back with the event, once.
async fn a_projection_batch_waits_for_an_archive_batch_holding_its_order(pool: sqlx::PgPool) {
    let store = EventStore::postgres(pool.clone());
    write_log(&store).await;
    let n = (0..GROUP)
        .find(|n| Fate::of(*n) == Fate::Cancelled)
        .unwrap();
    let id = id_of(n);
    act(&store, n, "late-pay", pay(n + 100)).await;
    // hold the projection's checkpoint row, so that its batch, with the late event read, waits
    // at its first statement (the event committed before this transaction began, so the
    // transaction-id horizon does not hide it)
    let mut checkpoint = pool.begin().await.unwrap();
    sqlx::query("SELECT txid FROM projection_checkpoints WHERE projection = 'orders' FOR UPDATE")
        .execute(&mut *checkpoint)
        .await
        .unwrap();
    let runner = tokio::spawn({
        let store = store.clone();
        async move { catch_up(&store).await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    // meanwhile an archive batch picks (locks) the order
    let mut archive_batch = pool.begin().await.unwrap();
    let picked: Vec<String> = sqlx::query_scalar(
        "SELECT order_id FROM order_detail WHERE order_id = $1 FOR UPDATE SKIP LOCKED",
    )
    .bind(&id)
    .fetch_all(&mut *archive_batch)
    .await
    .unwrap();
    assert_eq!(picked, [id.as_str()]);
    checkpoint.commit().await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !runner.is_finished(),
        "the projection batch waits for the archive batch"
    );
    for statement in [
        "INSERT INTO order_archive (order_id, buyer_id, seller_id, status, placed_at_us, \
         version, content_hash, state, updated_at, changed_at_us, archived_at_us) \
         SELECT order_id, buyer_id, seller_id, status, placed_at_us, version, \
         content_hash, state, updated_at, changed_at_us, 0 FROM order_detail \
         WHERE order_id = $1",
        "DELETE FROM order_detail WHERE order_id = $1",
    ] {
        sqlx::query(statement)
            .bind(&id)
            .execute(&mut *archive_batch)
            .await
            .unwrap();
    }
    archive_batch.commit().await.unwrap();
    runner.await.unwrap();
    let archived = each_order_once_as_the_log_says(&store).await.unwrap();
    assert!(
        !archived.contains(&id),
        "back from the archive, with the late event"
    );
}

macro_rules! on_both_stores {
    ($($test:ident),* $(,)?) => {
        mod postgres {
            $(
                #[sqlx::test(migrator = "projections::MIGRATOR")]
                async fn $test(pool: sqlx::PgPool) {
                    super::$test(event_store::EventStore::postgres(pool)).await;
                }
            )*
        }
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    let (store, _dir) = super::sqlite_store().await;
                    super::$test(store).await;
                }
            )*
        }
    };
}

mod postgres_only {
    #[sqlx::test(migrator = "projections::MIGRATOR")]
    async fn an_archive_batch_skips_an_order_a_projection_batch_holds(pool: sqlx::PgPool) {
        super::an_archive_batch_skips_an_order_a_projection_batch_holds(pool).await;
    }

    #[sqlx::test(migrator = "projections::MIGRATOR")]
    async fn a_projection_batch_waits_for_an_archive_batch_holding_its_order(pool: sqlx::PgPool) {
        super::a_projection_batch_waits_for_an_archive_batch_holding_its_order(pool).await;
    }
}

on_both_stores!(
    a_batch_moves_settled_orders_older_than_the_cutoff_and_nothing_else,
    archived_orders_are_listed_by_owner_with_the_same_pagination,
    an_archive_interrupted_mid_batch_loses_and_duplicates_nothing,
    an_archiver_killed_while_late_events_arrive_loses_and_duplicates_nothing,
    a_late_event_brings_an_archived_order_back,
    a_replay_after_archiving_keeps_every_order_in_one_place,
    reconcile_compares_the_archive_with_the_log,
);
