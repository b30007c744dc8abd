//! Firing deadlines with an injected clock, and the reactions that record deadlines and open
//! trades, on a throwaway SQLite store: nothing here sleeps until a deadline.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use shards::Stores;
use std::sync::Arc;

use chrono::{DateTime, Duration};
use domain::{
    BuyerId, CancelOrder, CancelReason, ItemRequest, Money, Order, OrderCommand, OrderId,
    OrderStatus, PlaceOrder, ProductSnapshot, ProductTitle, Quantity, SellerId, SkuId,
};
use event_store::{Checkpoint, EventMetadata, EventStore};
use ids::{Clock, ManualClock, SegmentAllocator};

use crate::payments::deadlines::{DeadlineStore, NewDeadline};
use event_store::execute;
use futures::future::BoxFuture;

use crate::payments::gateway::{
    GatewayError, NewTrade, PaymentGateway, RefundOrder, RefundStatus, TradeStatus,
};
use crate::payments::reactions::{DeadlineReaction, TradeReaction};
use crate::payments::simulator::{CallbackFaults, Simulator};
use crate::payments::timer::{DeadlineFirer, DeadlineWake, Outcome};
use crate::reactions::runner::Reaction;

const T0_MS: u64 = 1_800_000_000_000;
const TIMEOUT_MS: u64 = 15 * 60 * 1_000;
const PRICE_CENTS: i64 = 1_299;

struct Fixture {
    store: EventStore,
    clock: Arc<ManualClock>,
    simulator: Arc<Simulator>,
    firer: DeadlineFirer,
    deadlines: DeadlineStore,
    _file: TempFile,
}

/// A SQLite file removed when the test ends.
struct TempFile(std::path::PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let mut path = self.0.clone().into_os_string();
            path.push(suffix);
            let _ = std::fs::remove_file(path);
        }
    }
}

async fn fixture(name: &str) -> Fixture {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let path = std::env::temp_dir().join(format!(
        "orders-timer-{name}-{}-{nanos}.db",
        std::process::id()
    ));
    let store = EventStore::connect(&format!("sqlite:{}", path.display()))
        .await
        .unwrap();
    crate::migrations::run(&store).await.unwrap();
    let clock = Arc::new(ManualClock::new(T0_MS));
    let simulator = Arc::new(Simulator::new(
        None,
        CallbackFaults::default(),
        0,
        clock.clone(),
    ));
    let firer = DeadlineFirer::new(
        Stores::one(store.clone()),
        store.db(),
        simulator.clone(),
        clock.clone(),
        None,
    );
    Fixture {
        deadlines: DeadlineStore::new(store.db()),
        store,
        clock,
        simulator,
        firer,
        _file: TempFile(path),
    }
}

impl Fixture {
    /// Places order `id` at the clock's time, due `TIMEOUT_MS` later, with its deadline and
    /// its trade `TR{id}` recorded as the reactions would.
    async fn place(&self, id: u64) -> String {
        let (order_id, due) = self.place_only(id).await;
        let trade_no = format!("TR{id}");
        self.deadlines
            .insert_many(&[NewDeadline {
                order_id: order_id.clone(),
                due_at_ms: due.timestamp_millis(),
                trade_no: trade_no.clone(),
                amount_cents: PRICE_CENTS,
            }])
            .await
            .unwrap();
        self.simulator
            .create_trade(NewTrade {
                trade_no,
                order_id: order_id.clone(),
                amount_cents: PRICE_CENTS,
            })
            .await
            .unwrap();
        order_id
    }

    /// Places order `id` at the clock's time, due `TIMEOUT_MS` later; nothing else is recorded.
    async fn place_only(&self, id: u64) -> (String, DateTime<chrono::Utc>) {
        let now =
            DateTime::from_timestamp_millis(i64::try_from(self.clock.wall_ms()).unwrap()).unwrap();
        let due = now + Duration::milliseconds(i64::try_from(TIMEOUT_MS).unwrap());
        let order_id = OrderId::new(id).unwrap();
        let command = PlaceOrder {
            order_id,
            buyer: BuyerId::parse("b-1").unwrap(),
            seller: SellerId::parse("s-1").unwrap(),
            items: vec![ItemRequest {
                quantity: Quantity::new(1).unwrap(),
                snapshot: ProductSnapshot {
                    sku: SkuId::parse("tea").unwrap(),
                    seller: SellerId::parse("s-1").unwrap(),
                    title: ProductTitle::parse("Tea").unwrap(),
                    unit_price: Money::from_minor(PRICE_CENTS).unwrap(),
                    version: 1,
                },
            }],
            discount: Money::zero(),
            placed_at: now,
            payment_due_at: due,
            campaign: None,
        };
        let key = EventMetadata::with_dedup_key(format!("place:{order_id}"));
        execute::<Order, _>(&self.store, &order_id.to_string(), None, &key, |order| {
            order.decide(OrderCommand::PlaceOrder(command.clone()))
        })
        .await
        .unwrap();
        (order_id.to_string(), due)
    }

    /// The deadline reaction on this store, numbering trades as the application does.
    fn deadline_reaction(&self) -> DeadlineReaction {
        DeadlineReaction::new(
            self.store.db(),
            SegmentAllocator::new(&self.store, "trade").unwrap(),
            Arc::new(DeadlineWake::default()),
        )
    }

    async fn order(&self, id: &str) -> (Order, u64) {
        let loaded = self.store.load::<Order>(id).await.unwrap();
        (loaded.aggregate, loaded.version)
    }
}

#[tokio::test]
async fn an_unpaid_order_is_cancelled_at_its_deadline_and_not_before() {
    let f = fixture("unpaid").await;
    let id = f.place(1).await;
    f.clock.advance_ms(TIMEOUT_MS - 1);
    assert_eq!(f.firer.fire_due().await.unwrap(), 0, "not due yet");
    assert_eq!(
        f.order(&id).await.0.status(),
        Some(OrderStatus::PendingPayment)
    );

    f.clock.advance_ms(1);
    assert_eq!(f.firer.fire_due().await.unwrap(), 1);
    let (order, version) = f.order(&id).await;
    assert_eq!(order.status(), Some(OrderStatus::Cancelled));
    assert_eq!(
        order.cancel_reason(),
        Some(domain::CancelReason::PaymentTimeout)
    );
    assert_eq!(
        f.simulator.query_trade("TR1".into()).await,
        Ok(TradeStatus::Closed),
        "the trade is closed, so the buyer can no longer pay it"
    );

    f.clock.advance_ms(TIMEOUT_MS);
    assert_eq!(
        f.firer.fire_due().await.unwrap(),
        0,
        "a fired deadline is done"
    );
    assert_eq!(f.order(&id).await.1, version);
}

#[tokio::test]
async fn a_paid_trade_whose_callback_was_lost_is_confirmed_at_the_deadline() {
    let f = fixture("paid").await;
    let id = f.place(2).await;
    let paid = f.simulator.pay(&id).unwrap();
    f.clock.advance_ms(TIMEOUT_MS);
    assert_eq!(f.firer.fire_due().await.unwrap(), 1);
    let (order, _) = f.order(&id).await;
    assert_eq!(order.status(), Some(OrderStatus::Paid));
    assert_eq!(
        order.paid_txn().map(|t| t.as_str()),
        Some(paid.txn_id.as_str())
    );
}

#[tokio::test]
async fn firing_one_deadline_twice_changes_nothing_the_second_time() {
    let f = fixture("twice").await;
    let id = f.place(3).await;
    f.clock.advance_ms(TIMEOUT_MS);
    let now = i64::try_from(f.clock.wall_ms()).unwrap();
    let claimed = f.deadlines.claim_due(now, now + 1, 10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    let first = f.firer.fire(&claimed[0]).await.unwrap();
    let (_, version) = f.order(&id).await;
    let second = f.firer.fire(&claimed[0]).await.unwrap();
    assert_eq!((first, second), (Outcome::Cancelled, Outcome::Settled));
    assert_eq!(
        f.order(&id).await.1,
        version,
        "nothing appended the second time"
    );
}

#[tokio::test]
async fn a_claim_holds_a_deadline_until_it_runs_out() {
    let f = fixture("claim").await;
    f.place(4).await;
    f.place(5).await;
    f.clock.advance_ms(TIMEOUT_MS);
    let now = i64::try_from(f.clock.wall_ms()).unwrap();
    let first = f.deadlines.claim_due(now, now + 1_000, 1).await.unwrap();
    let second = f.deadlines.claim_due(now, now + 1_000, 10).await.unwrap();
    assert_eq!((first.len(), second.len()), (1, 1));
    assert_ne!(first[0].order_id, second[0].order_id);
    assert!(
        f.deadlines
            .claim_due(now, now + 1_000, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        f.deadlines.next_due_ms(now).await.unwrap(),
        None,
        "claimed rows are not next"
    );
    let later = f
        .deadlines
        .claim_due(now + 1_000, now + 2_000, 10)
        .await
        .unwrap();
    assert_eq!(later.len(), 2, "a claim that ran out is taken over");
}

#[tokio::test]
async fn the_next_due_time_is_the_earliest_pending_deadline() {
    let f = fixture("next").await;
    assert_eq!(f.deadlines.next_due_ms(0).await.unwrap(), None);
    f.place(6).await;
    f.clock.advance_ms(1_000);
    f.place(7).await;
    let first_due = i64::try_from(T0_MS + TIMEOUT_MS).unwrap();
    let now = i64::try_from(f.clock.wall_ms()).unwrap();
    assert_eq!(f.deadlines.next_due_ms(now).await.unwrap(), Some(first_due));
    assert!(f.deadlines.finish("6", None, "settled").await.unwrap());
    assert!(
        !f.deadlines.finish("6", None, "settled").await.unwrap(),
        "only once"
    );
    assert_eq!(
        f.deadlines.next_due_ms(now).await.unwrap(),
        Some(first_due + 1_000)
    );
}

/// A provider that never answers.
#[derive(Debug)]
struct DownGateway;

impl PaymentGateway for DownGateway {
    fn create_trade(&self, _: NewTrade) -> BoxFuture<'_, Result<(), GatewayError>> {
        Box::pin(async { Err(GatewayError::Unavailable("down".into())) })
    }

    fn query_trade(&self, _: String) -> BoxFuture<'_, Result<TradeStatus, GatewayError>> {
        Box::pin(async { Err(GatewayError::Unavailable("down".into())) })
    }

    fn close_trade(&self, _: String) -> BoxFuture<'_, Result<TradeStatus, GatewayError>> {
        Box::pin(async { Err(GatewayError::Unavailable("down".into())) })
    }

    fn refund(&self, _: RefundOrder) -> BoxFuture<'_, Result<RefundStatus, GatewayError>> {
        Box::pin(async { Err(GatewayError::Unavailable("down".into())) })
    }
}

#[tokio::test]
async fn a_provider_that_does_not_answer_does_not_keep_an_unpaid_order_open() {
    let f = fixture("down").await;
    let id = f.place(8).await;
    let firer = DeadlineFirer::new(
        Stores::one(f.store.clone()),
        f.store.db(),
        Arc::new(DownGateway),
        f.clock.clone(),
        None,
    );
    f.clock.advance_ms(TIMEOUT_MS);
    assert_eq!(firer.fire_due().await.unwrap(), 1);
    // a payment that lands later is recorded after close and refunded
    assert_eq!(f.order(&id).await.0.status(), Some(OrderStatus::Cancelled));
}

#[tokio::test]
async fn the_sweeper_fires_what_no_timer_fired() {
    let f = fixture("sweeper").await;
    let id = f.place(9).await;
    f.clock.advance_ms(TIMEOUT_MS);
    let shutdown = tokio_util::sync::CancellationToken::new();
    let sweeper = tokio::spawn(crate::payments::timer::run_sweeper(
        f.firer.clone(),
        std::time::Duration::from_millis(20),
        shutdown.clone(),
    ));
    for _ in 0..100 {
        if f.order(&id).await.0.status() == Some(OrderStatus::Cancelled) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    shutdown.cancel();
    sweeper.await.unwrap();
    assert_eq!(f.order(&id).await.0.status(), Some(OrderStatus::Cancelled));
}

/// The trade reaction may reach an order before its deadline is recorded (by the deadline
/// reaction, which runs on its own): it records the deadline itself and opens
/// the trade under that number, instead of failing until another writer catches up; the
/// deadline reaction coming later keeps the number.
#[tokio::test]
async fn a_trade_opens_for_an_order_whose_deadline_is_not_recorded_yet() {
    let f = fixture("trade-first").await;
    let (id, due) = f.place_only(7).await;
    let deadlines = f.deadline_reaction();
    let trades = TradeReaction::new(
        Stores::one(f.store.clone()),
        f.simulator.clone(),
        deadlines.clone(),
    );
    let placed = f.store.read_after(Checkpoint::START, 10).await.unwrap();
    assert_eq!(placed.len(), 1);

    trades.react(&placed[0]).await.unwrap();
    let trade_no = f.deadlines.trade_no(&id).await.unwrap().unwrap();
    assert_eq!(
        f.simulator.query_trade(trade_no.clone()).await,
        Ok(TradeStatus::Unpaid)
    );
    assert_eq!(
        f.deadlines.next_due_ms(0).await.unwrap(),
        Some(due.timestamp_millis())
    );

    deadlines.react(&placed[0]).await.unwrap();
    assert_eq!(f.deadlines.trade_no(&id).await.unwrap(), Some(trade_no));
}

/// A buyer's cancellation closes the order's trade at the provider, so the buyer can no
/// longer pay for an order that no longer exists.
#[tokio::test]
async fn a_cancelled_orders_trade_is_closed_at_the_provider() {
    let f = fixture("trade-closed").await;
    let (id, _) = f.place_only(8).await;
    let deadlines = f.deadline_reaction();
    let trades = TradeReaction::new(Stores::one(f.store.clone()), f.simulator.clone(), deadlines);
    let cancel = CancelOrder {
        reason: CancelReason::BuyerCancelled,
        at: DateTime::from_timestamp_millis(i64::try_from(f.clock.wall_ms()).unwrap()).unwrap(),
    };
    execute::<Order, _>(
        &f.store,
        &id,
        None,
        &EventMetadata::with_dedup_key(format!("cancel:{id}")),
        |order| order.decide(OrderCommand::CancelOrder(cancel.clone())),
    )
    .await
    .unwrap();
    let log = f.store.read_after(Checkpoint::START, 10).await.unwrap();
    assert_eq!(log.len(), 2);

    trades.react(&log[0]).await.unwrap();
    let trade_no = f.deadlines.trade_no(&id).await.unwrap().unwrap();
    assert_eq!(
        f.simulator.query_trade(trade_no.clone()).await,
        Ok(TradeStatus::Unpaid)
    );
    trades.react(&log[1]).await.unwrap();
    assert_eq!(
        f.simulator.query_trade(trade_no).await,
        Ok(TradeStatus::Closed)
    );
}

/// The deadline reaction records a batch's deadlines in one statement and settles its paid
/// orders in another, after the inserts: an order placed and paid in the same batch ends
/// settled. A batch applied again (the runner retries a failed batch whole) changes nothing.
#[tokio::test]
async fn a_batch_of_deadlines_is_recorded_and_settled_once() {
    let f = fixture("deadline-batch").await;
    let mut ids = Vec::new();
    for n in 21..=23 {
        ids.push(f.place_only(n).await.0);
    }
    let pay = domain::ConfirmPayment {
        txn_id: "T-22".parse().unwrap(),
        amount: Money::from_minor(PRICE_CENTS).unwrap(),
        at: DateTime::from_timestamp_millis(i64::try_from(T0_MS).unwrap()).unwrap(),
    };
    execute::<Order, _>(
        &f.store,
        &ids[1],
        None,
        &EventMetadata::with_dedup_key("txn:T-22".to_owned()),
        |order| order.decide(OrderCommand::ConfirmPayment(pay.clone())),
    )
    .await
    .unwrap();
    let batch: Vec<_> = (f.store.read_after(Checkpoint::START, 100).await.unwrap())
        .into_iter()
        .map(Arc::new)
        .collect();
    assert_eq!(batch.len(), 4);
    let deadlines = f.deadline_reaction();
    let rows = || async {
        sqlx::query_as::<_, (String, String, Option<String>, String)>(
            "SELECT order_id, state, outcome, trade_no FROM payment_deadlines ORDER BY order_id",
        )
        .fetch_all(f.store.sqlite_pool().unwrap())
        .await
        .unwrap()
    };

    deadlines.react_batch(&batch).await.unwrap();
    let recorded = rows().await;
    let states: Vec<(&str, &str, Option<&str>)> = recorded
        .iter()
        .map(|(id, state, outcome, _)| (id.as_str(), state.as_str(), outcome.as_deref()))
        .collect();
    assert_eq!(
        states,
        [
            ("21", "pending", None),
            ("22", "done", Some("settled")),
            ("23", "pending", None)
        ]
    );
    let numbers: std::collections::BTreeSet<&str> =
        recorded.iter().map(|(_, _, _, n)| n.as_str()).collect();
    assert_eq!(numbers.len(), 3, "a trade number per order: {recorded:?}");

    deadlines.react_batch(&batch).await.unwrap();
    assert_eq!(rows().await, recorded);
}

/// Under load a deadline is recorded during nearly every read of the timer; one that falls
/// after what the timer then sleeps until must not send it reading again.
#[tokio::test]
async fn a_later_deadline_recorded_while_the_timer_reads_does_not_wake_it() {
    let wake = DeadlineWake::default();
    wake.reading();
    wake.recorded(10_000);
    let pause = std::time::Duration::from_millis(100);
    let started = std::time::Instant::now();
    assert!(!wake.sleep(5_000, pause).await, "woken early");
    assert!(started.elapsed() >= pause, "slept {:?}", started.elapsed());
}

/// A deadline recorded during the read may be missing from it: when it falls before what the
/// timer sleeps until, the timer reads again at once.
#[tokio::test]
async fn an_earlier_deadline_recorded_while_the_timer_reads_wakes_it() {
    let wake = DeadlineWake::default();
    wake.reading();
    wake.recorded(1_000);
    let woken = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        wake.sleep(5_000, std::time::Duration::from_secs(60)),
    )
    .await;
    assert_eq!(woken.ok(), Some(true));
}

#[tokio::test]
async fn a_sleeping_timer_is_woken_only_by_a_deadline_before_its_wake_up() {
    let wake = Arc::new(DeadlineWake::default());
    wake.reading();
    let sleeper = {
        let wake = Arc::clone(&wake);
        tokio::spawn(async move { wake.sleep(5_000, std::time::Duration::from_secs(60)).await })
    };
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    wake.recorded(9_000);
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert!(!sleeper.is_finished(), "woken by a later deadline");
    wake.recorded(4_000);
    let woken = tokio::time::timeout(std::time::Duration::from_secs(5), sleeper).await;
    assert_eq!(woken.ok().and_then(Result::ok), Some(true));
}
