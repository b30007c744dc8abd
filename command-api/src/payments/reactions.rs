//! The payment side's reactions to the log, each at least once with its own checkpoint (so a
//! slow provider delays only provider work, never deadlines or stock):
//!
//! - `payment-deadlines`: `OrderPlaced` records the order's deadline (its due time from the
//!   event, a trade number from the "trade" sequence), idempotent by order id, and wakes the
//!   timer; `PaymentConfirmed` and `OrderCancelled` settle it early. It works a batch at a
//!   time: one statement records a batch's deadlines, one settles its paid and cancelled
//!   orders (ADR 20).
//! - `payment-trades`: `OrderPlaced` opens the order's trade under the number recorded with its
//!   deadline (recording a batch's deadlines first, in one statement, when the deadline
//!   reaction has not yet);
//!   `OrderCancelled` closes it (a trade found paid confirms the payment,
//!   which the closed order records as paid after close, to be refunded).
//! - `payment-refunds`: `PaidAfterClose` requests the refund of that payment;
//!   `RefundRequested` asks the provider to pay it out and, once it confirms, completes it.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use domain::{
    CompleteRefund, ConfirmPayment, Money, Order, OrderCommand, OrderError, OrderEvent, OrderId,
    RefundId, RefundPaidAfterClose,
};
use event_store::{Db, EventMetadata, RecordedEvent};
use ids::SegmentAllocator;
use shards::Stores;

use crate::payments::deadlines::{DeadlineStore, NewDeadline};
use crate::payments::gateway::{
    GatewayError, NewTrade, PaymentGateway, RefundOrder, RefundStatus, TradeStatus, with_retries,
};
use crate::payments::timer::{DeadlineWake, TIMER_ACTOR};
use crate::reactions::runner::Reaction;
use event_store::ExecuteError;

type ReactionError = Box<dyn std::error::Error + Send + Sync>;

/// First pause while a refund is pending at the provider; doubles up to the maximum.
const REFUND_POLL_MIN_MS: u64 = 100;
const REFUND_POLL_MAX_MS: u64 = 2_000;
/// How long one attempt waits for a pending refund before the runner tries again later.
const REFUND_SETTLE_WAIT_MAX_MS: u64 = 60_000;

fn metadata(event: &RecordedEvent, actor: &str, key: String) -> EventMetadata {
    EventMetadata {
        dedup_key: Some(key),
        actor: Some(actor.to_owned()),
        correlation_id: event.metadata.correlation_id.clone(),
        causation_id: Some(format!(
            "{}/{}/{}",
            event.aggregate_type, event.aggregate_id, event.sequence
        )),
        request_id: None,
        request_digest: None,
    }
}

fn boxed(err: ExecuteError<OrderError>) -> ReactionError {
    Box::new(err)
}

/// Keeps `payment_deadlines` in step with the log.
#[derive(Debug, Clone)]
pub struct DeadlineReaction {
    deadlines: DeadlineStore,
    trade_numbers: SegmentAllocator,
    wake: Arc<DeadlineWake>,
    /// Held by whichever of this reaction and the trade reaction (which shares it) records a
    /// batch's deadlines: both read the same batches at about the same time, and the second
    /// then finds them recorded instead of numbering and inserting them again.
    recording: Arc<tokio::sync::Mutex<()>>,
}

impl DeadlineReaction {
    /// Records deadlines in `db` (each in its order's database when `db` routes), numbering
    /// trades with `trade_numbers`, and wakes the timer through `wake`.
    pub fn new(db: Db, trade_numbers: SegmentAllocator, wake: Arc<DeadlineWake>) -> Self {
        Self {
            deadlines: DeadlineStore::new(db),
            trade_numbers,
            wake,
            recording: Arc::default(),
        }
    }
}

impl DeadlineReaction {
    /// The deadlines table, sharing what it remembers of recorded trade numbers.
    pub fn deadlines(&self) -> DeadlineStore {
        self.deadlines.clone()
    }

    /// What the timer waits on: notified when a deadline is recorded here.
    pub fn wake(&self) -> Arc<DeadlineWake> {
        Arc::clone(&self.wake)
    }

    /// Records the deadline of a placed order (once: a recorded one is kept) and wakes the
    /// timer when it is due before what the timer waits for.
    pub async fn record(
        &self,
        order_id: OrderId,
        due: DateTime<Utc>,
        total: Money,
    ) -> Result<(), ReactionError> {
        if self
            .deadlines
            .trade_no(&order_id.to_string())
            .await?
            .is_some()
        {
            return Ok(());
        }
        self.record_all([(order_id, due, total)]).await
    }

    /// Records the deadlines of placed orders `(order, due, total)` in one statement, each
    /// once (a recorded one keeps its trade number), and wakes the timer for the earliest new
    /// one.
    async fn record_all(
        &self,
        orders: impl IntoIterator<Item = (OrderId, DateTime<Utc>, Money)>,
    ) -> Result<(), ReactionError> {
        let _recording = self.recording.lock().await;
        let mut new = Vec::new();
        for (order_id, due, total) in orders {
            let order_id = order_id.to_string();
            // the trade reaction may have recorded it already: it keeps its number
            if self.deadlines.remembers(&order_id) {
                continue;
            }
            new.push(NewDeadline {
                order_id,
                due_at_ms: due.timestamp_millis(),
                trade_no: format!("TR{}", self.trade_numbers.next().await?),
                amount_cents: total.minor(),
            });
        }
        let inserted = self.deadlines.insert_many(&new).await?;
        if let Some(earliest) = new
            .iter()
            .filter(|d| inserted.contains(&d.order_id))
            .map(|d| d.due_at_ms)
            .min()
        {
            self.wake.recorded(earliest);
        }
        Ok(())
    }
}

impl Reaction for DeadlineReaction {
    /// A batch's deadlines are recorded in one statement and its settled orders in another.
    const BY_BATCH: bool = true;

    fn name(&self) -> &'static str {
        "payment-deadlines"
    }

    async fn react(&self, event: &RecordedEvent) -> Result<(), ReactionError> {
        self.react_batch(&[Arc::new(event.clone())]).await
    }

    async fn react_batch(&self, batch: &[Arc<RecordedEvent>]) -> Result<(), ReactionError> {
        let mut placed = Vec::new();
        let mut settled = Vec::new();
        for event in batch.iter().filter(|e| e.aggregate_type == "Order") {
            match event.decode::<OrderEvent>()? {
                OrderEvent::OrderPlaced(order) => {
                    placed.push((order.order_id, order.payment_due_at, order.total));
                }
                // settled before its time; what the timer itself did, it records itself
                // (with its lateness)
                OrderEvent::PaymentConfirmed(_) | OrderEvent::OrderCancelled(_)
                    if event.metadata.actor.as_deref() != Some(TIMER_ACTOR) =>
                {
                    settled.push(event.aggregate_id.clone());
                }
                _ => {}
            }
        }
        self.record_all(placed).await?;
        // after the inserts: an order placed and settled in one batch ends settled
        self.deadlines.settle_many(&settled).await?;
        Ok(())
    }
}

/// Opens and closes the provider's trades.
#[derive(Debug, Clone)]
pub struct TradeReaction {
    store: Stores,
    deadlines: DeadlineReaction,
    gateway: Arc<dyn PaymentGateway>,
}

impl TradeReaction {
    /// Trades of `store`'s orders, at `gateway`, with the trade numbers `deadlines` records.
    pub fn new(
        store: Stores,
        gateway: Arc<dyn PaymentGateway>,
        deadlines: DeadlineReaction,
    ) -> Self {
        Self {
            deadlines,
            store,
            gateway,
        }
    }

    /// Opens the trade of the placed order `order_id` (due at `due`, for `total`): what this
    /// reaction does when it reaches the order's `OrderPlaced`, and what the simulator's pay
    /// route does for a buyer who pays before it got there. Opening an open trade changes
    /// nothing, and both open it under the one trade number recorded with the deadline.
    pub async fn open(
        &self,
        order_id: OrderId,
        due: DateTime<Utc>,
        total: Money,
    ) -> Result<(), ReactionError> {
        // the deadline may not be recorded yet: recording it is idempotent, and whichever
        // number was recorded first is the trade's
        self.deadlines.record(order_id, due, total).await?;
        let order_id = order_id.to_string();
        let trade = NewTrade {
            trade_no: self.trade_no(&order_id).await?,
            order_id,
            amount_cents: total.minor(),
        };
        with_retries("create_trade", || self.gateway.create_trade(trade.clone())).await?;
        Ok(())
    }

    /// The order's trade number, recorded with its deadline (by the deadline reaction, or here
    /// when this reaction reached the order first).
    async fn trade_no(&self, order_id: &str) -> Result<String, ReactionError> {
        self.deadlines
            .deadlines
            .trade_no(order_id)
            .await?
            .ok_or_else(|| format!("no trade number recorded for order {order_id}").into())
    }
}

impl Reaction for TradeReaction {
    /// A batch's deadlines are recorded in one statement, then its trades are worked one
    /// event at a time.
    const BY_BATCH: bool = true;

    fn name(&self) -> &'static str {
        "payment-trades"
    }

    async fn react_batch(&self, batch: &[Arc<RecordedEvent>]) -> Result<(), ReactionError> {
        let mut placed = Vec::new();
        for event in batch
            .iter()
            .filter(|e| e.aggregate_type == "Order" && e.event_type == "OrderPlaced")
        {
            if let OrderEvent::OrderPlaced(order) = event.decode::<OrderEvent>()? {
                placed.push((order.order_id, order.payment_due_at, order.total));
            }
        }
        self.deadlines.record_all(placed).await?;
        for event in batch {
            self.react(event).await?;
        }
        Ok(())
    }

    async fn react(&self, event: &RecordedEvent) -> Result<(), ReactionError> {
        // a payment and the order's later events are none of these: not decoded at all
        if event.aggregate_type != "Order"
            || !matches!(event.event_type.as_str(), "OrderPlaced" | "OrderCancelled")
        {
            return Ok(());
        }
        match event.decode::<OrderEvent>()? {
            OrderEvent::OrderPlaced(placed) => {
                self.open(placed.order_id, placed.payment_due_at, placed.total)
                    .await
            }
            OrderEvent::OrderCancelled(cancelled) => {
                let trade_no = self.trade_no(&event.aggregate_id).await?;
                let status =
                    with_retries("close_trade", || self.gateway.close_trade(trade_no.clone()))
                        .await?;
                if let TradeStatus::Paid {
                    txn_id,
                    amount_cents,
                } = status
                {
                    // the buyer paid before the trade closed: record it (as paid after
                    // close), whether or not its callback ever arrives, so it is refunded
                    let command = ConfirmPayment {
                        txn_id: txn_id.parse()?,
                        amount: domain::Money::from_minor(amount_cents)?,
                        at: cancelled.at,
                    };
                    let meta = metadata(event, "system:payment-trades", format!("txn:{txn_id}"));
                    self.store
                        .execute::<Order, _>(&event.aggregate_id, None, &meta, |order| {
                            order.decide(OrderCommand::ConfirmPayment(command.clone()))
                        })
                        .await
                        .map_err(boxed)?;
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

/// Pays refunds out through the provider.
#[derive(Debug, Clone)]
pub struct RefundReaction {
    store: Stores,
    gateway: Arc<dyn PaymentGateway>,
    refund_numbers: SegmentAllocator,
}

impl RefundReaction {
    /// Refunds of `store`'s orders, at `gateway`, numbered by `refund_numbers`.
    pub fn new(
        store: Stores,
        gateway: Arc<dyn PaymentGateway>,
        refund_numbers: SegmentAllocator,
    ) -> Self {
        Self {
            store,
            gateway,
            refund_numbers,
        }
    }

    async fn refund_paid_after_close(
        &self,
        event: &RecordedEvent,
        txn_id: domain::TxnId,
        at: DateTime<Utc>,
    ) -> Result<(), ReactionError> {
        let order = self
            .store
            .load::<Order>(&event.aggregate_id)
            .await?
            .aggregate;
        let requested = order
            .after_close_payments()
            .iter()
            .any(|p| p.txn_id == txn_id && p.refund_id.is_some());
        if requested {
            return Ok(());
        }
        let number = self.refund_numbers.next().await?;
        let command = RefundPaidAfterClose {
            refund_id: RefundId::parse(&format!("R{number}"))?,
            txn_id: txn_id.clone(),
            at,
        };
        let meta = metadata(
            event,
            "system:payment-refunds",
            format!("refund-after-close:{}", txn_id.as_str()),
        );
        let result = self
            .store
            .execute::<Order, _>(&event.aggregate_id, None, &meta, |order| {
                order.decide(OrderCommand::RefundPaidAfterClose(command.clone()))
            })
            .await;
        match result {
            Ok(_)
            | Err(ExecuteError::Domain(OrderError::PaymentAfterCloseAlreadyRefunded { .. })) => {
                Ok(())
            }
            Err(other) => Err(boxed(other)),
        }
    }

    async fn pay_out(
        &self,
        event: &RecordedEvent,
        refund: RefundOrder,
    ) -> Result<(), ReactionError> {
        let order = self
            .store
            .load::<Order>(&event.aggregate_id)
            .await?
            .aggregate;
        let open = order
            .refunds()
            .iter()
            .any(|r| r.refund_id.as_str() == refund.refund_no && r.is_open());
        if !open {
            return Ok(());
        }
        let mut waited_ms = 0;
        let mut pause_ms = REFUND_POLL_MIN_MS;
        loop {
            match with_retries("refund", || self.gateway.refund(refund.clone())).await {
                Ok(RefundStatus::Succeeded) => break,
                Ok(RefundStatus::Pending) if waited_ms < REFUND_SETTLE_WAIT_MAX_MS => {
                    tokio::time::sleep(Duration::from_millis(pause_ms)).await;
                    waited_ms += pause_ms;
                    pause_ms = (pause_ms * 2).min(REFUND_POLL_MAX_MS);
                }
                Ok(RefundStatus::Pending) => {
                    return Err(format!("refund {} still pending", refund.refund_no).into());
                }
                Err(GatewayError::Refused(reason)) => {
                    // never expected (the order never asks for more than was paid): a person
                    // has to look, and other refunds must not wait for that
                    tracing::error!(refund_no = %refund.refund_no, reason, "the provider refused a refund; left open");
                    return Ok(());
                }
                Err(err) => return Err(err.into()),
            }
        }
        let command = CompleteRefund {
            refund_id: RefundId::parse(&refund.refund_no)?,
            at: Utc::now(),
        };
        let meta = metadata(
            event,
            "system:payment-refunds",
            format!("refund-done:{}", refund.refund_no),
        );
        self.store
            .execute::<Order, _>(&event.aggregate_id, None, &meta, |order| {
                order.decide(OrderCommand::CompleteRefund(command.clone()))
            })
            .await
            .map_err(boxed)?;
        Ok(())
    }
}

impl Reaction for RefundReaction {
    fn name(&self) -> &'static str {
        "payment-refunds"
    }

    async fn react(&self, event: &RecordedEvent) -> Result<(), ReactionError> {
        // most order events are none of these: not decoded at all
        if event.aggregate_type != "Order"
            || !matches!(
                event.event_type.as_str(),
                "PaidAfterClose" | "RefundRequested"
            )
        {
            return Ok(());
        }
        match event.decode::<OrderEvent>()? {
            OrderEvent::PaidAfterClose(paid) => {
                self.refund_paid_after_close(event, paid.txn_id, paid.at)
                    .await
            }
            OrderEvent::RefundRequested(requested) => {
                let refund = RefundOrder {
                    refund_no: requested.refund_id.as_str().to_owned(),
                    txn_id: requested.txn_id.as_str().to_owned(),
                    amount_cents: requested.amount.minor(),
                };
                self.pay_out(event, refund).await
            }
            _ => Ok(()),
        }
    }
}
