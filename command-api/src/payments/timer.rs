//! Firing payment deadlines: a timer that sleeps until the earliest pending deadline (or until
//! told a new one was recorded), and a sweeper that fires whatever is overdue on an interval,
//! as the backstop for a timer that stalled. Both claim due deadlines from the database, so a
//! restart loses nothing and several processes never fire one deadline at once; a deadline
//! fired twice anyway (a claim that ran out) changes nothing, as every command it issues is
//! idempotent.
//!
//! Firing one deadline of a still unpaid order asks the provider: paid -> the payment is
//! confirmed (its callback was lost); else the trade is closed first, and only a trade that
//! could be closed (or that the provider does not know) cancels the order. A provider that
//! does not answer cancels it too: a payment that lands afterwards is recorded as paid after
//! close and refunded automatically.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use domain::{
    CancelOrder, CancelReason, ConfirmPayment, Money, Order, OrderCommand, OrderError, OrderStatus,
    TxnId,
};
use event_store::{Db, EventMetadata, StoreError};
use futures::StreamExt;
use shards::Stores;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;
use crate::payments::deadlines::{ClaimedDeadline, DeadlineStore};
use crate::payments::gateway::{PaymentGateway, TradeStatus, with_retries};
use event_store::ExecuteError;

/// Deadlines claimed per round.
const FIRE_BATCH_SIZE_MAX: usize = 256;
/// Deadlines of one round fired at once.
const FIRE_CONCURRENCY_MAX: usize = 32;
/// How long a claim holds a deadline: longer than firing one takes, short enough that a dead
/// timer's deadlines are taken over soon.
const CLAIM_HOLD_MS: i64 = 30_000;
/// When firing failed (the store or the order), the deadline is tried again after this.
const FIRE_RETRY_DELAY_MS: i64 = 1_000;
/// Longest sleep with nothing due: deadlines recorded by other processes, and claims that
/// ran out, are noticed at least this often.
const TIMER_IDLE_MAX_MS: u64 = 5_000;
/// Pause after the timer's own round failed (the database is unavailable).
const TIMER_FAILURE_PAUSE_MS: u64 = 1_000;

/// How a fired deadline ended (the `outcome` column and the metric's label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The provider said paid: the payment was confirmed.
    Paid,
    /// Unpaid: the order was cancelled and its trade closed.
    Cancelled,
    /// The order was already paid or closed: nothing to do.
    Settled,
    /// There is no such order.
    Missing,
    /// The provider's payment does not match the order (logged; needs a person).
    AmountMismatch,
}

impl Outcome {
    /// The stable label.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Paid => "paid",
            Self::Cancelled => "cancelled",
            Self::Settled => "settled",
            Self::Missing => "missing",
            Self::AmountMismatch => "amount_mismatch",
        }
    }
}

/// Everything firing a deadline needs.
#[derive(Clone)]
pub struct DeadlineFirer {
    store: Stores,
    deadlines: DeadlineStore,
    gateway: Arc<dyn PaymentGateway>,
    clock: Arc<dyn ids::Clock>,
    metrics: Option<Metrics>,
}

impl std::fmt::Debug for DeadlineFirer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeadlineFirer")
            .field("store", &self.store)
            .field("gateway", &self.gateway)
            .finish_non_exhaustive()
    }
}

type FireError = ExecuteError<OrderError>;

impl DeadlineFirer {
    /// A firer over the deadlines in `local` (the shard it runs for), executing through
    /// `store`, asking `gateway`, reading time from `clock`, and
    /// observing lateness in `metrics` when given.
    pub fn new(
        store: Stores,
        local: Db,
        gateway: Arc<dyn PaymentGateway>,
        clock: Arc<dyn ids::Clock>,
        metrics: Option<Metrics>,
    ) -> Self {
        Self {
            deadlines: DeadlineStore::new(local),
            store,
            gateway,
            clock,
            metrics,
        }
    }

    fn now_ms(&self) -> i64 {
        i64::try_from(self.clock.wall_ms()).unwrap_or(i64::MAX)
    }

    fn now(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(self.now_ms()).unwrap_or_else(Utc::now)
    }

    /// Claims and fires every deadline due now, round after round; answers how many fired.
    pub async fn fire_due(&self) -> Result<usize, StoreError> {
        let mut fired = 0;
        loop {
            let now = self.now_ms();
            let claimed = self
                .deadlines
                .claim_due(now, now + CLAIM_HOLD_MS, FIRE_BATCH_SIZE_MAX)
                .await?;
            let count = claimed.len();
            futures::stream::iter(claimed)
                .for_each_concurrent(FIRE_CONCURRENCY_MAX, |deadline| async move {
                    self.fire_or_retry_later(deadline).await;
                })
                .await;
            fired += count;
            if count < FIRE_BATCH_SIZE_MAX {
                return Ok(fired);
            }
        }
    }

    async fn fire_or_retry_later(&self, deadline: ClaimedDeadline) {
        match self.fire(&deadline).await {
            Ok(outcome) => {
                let fired_at = self.now_ms();
                match self
                    .deadlines
                    .finish(&deadline.order_id, Some(fired_at), outcome.as_str())
                    .await
                {
                    Ok(true) => self.observe(&deadline, fired_at, outcome),
                    Ok(false) => {}
                    Err(err) => {
                        tracing::warn!(order_id = %deadline.order_id, error = %err, "recording a fired deadline failed; it fires again");
                    }
                }
            }
            Err(err) => {
                tracing::warn!(order_id = %deadline.order_id, error = %err, "firing a payment deadline failed; retrying");
                let retry_at = self.now_ms() + FIRE_RETRY_DELAY_MS;
                if let Err(err) = self.deadlines.retry_at(&deadline.order_id, retry_at).await {
                    tracing::warn!(order_id = %deadline.order_id, error = %err, "releasing a claim failed; it runs out");
                }
            }
        }
    }

    fn observe(&self, deadline: &ClaimedDeadline, fired_at_ms: i64, outcome: Outcome) {
        let lateness_ms = fired_at_ms.saturating_sub(deadline.due_at_ms).max(0);
        tracing::info!(order_id = %deadline.order_id, outcome = outcome.as_str(), lateness_ms, "payment deadline fired");
        if let Some(metrics) = &self.metrics {
            #[allow(clippy::cast_precision_loss)] // ms to seconds for a histogram
            metrics
                .payment_deadline_lateness
                .observe(lateness_ms as f64 / 1_000.0);
            metrics
                .payment_deadlines_fired
                .with_label_values(&[outcome.as_str()])
                .inc();
        }
    }

    /// Fires one deadline: see the module documentation.
    #[tracing::instrument(skip_all, fields(order_id = %deadline.order_id))]
    pub async fn fire(&self, deadline: &ClaimedDeadline) -> Result<Outcome, FireError> {
        let order = self
            .store
            .load::<Order>(&deadline.order_id)
            .await?
            .aggregate;
        match order.status() {
            None => return Ok(Outcome::Missing),
            Some(OrderStatus::PendingPayment) => {}
            Some(_) => return Ok(Outcome::Settled),
        }
        let status = match with_retries("query_trade", || {
            self.gateway.query_trade(deadline.trade_no.clone())
        })
        .await
        {
            Ok(TradeStatus::Paid {
                txn_id,
                amount_cents,
            }) => TradeStatus::Paid {
                txn_id,
                amount_cents,
            },
            Ok(_) | Err(_) => with_retries("close_trade", || {
                self.gateway.close_trade(deadline.trade_no.clone())
            })
            .await
            .unwrap_or_else(|err| {
                tracing::warn!(error = %err, "the provider does not answer; cancelling (a late payment is refunded)");
                TradeStatus::Closed
            }),
        };
        match status {
            TradeStatus::Paid {
                txn_id,
                amount_cents,
            } => self.confirm(deadline, &txn_id, amount_cents).await,
            TradeStatus::Unpaid | TradeStatus::Closed | TradeStatus::NotFound => {
                self.cancel(deadline).await
            }
        }
    }

    async fn confirm(
        &self,
        deadline: &ClaimedDeadline,
        txn_id: &str,
        amount_cents: i64,
    ) -> Result<Outcome, FireError> {
        let (Ok(txn), Ok(amount)) = (TxnId::parse(txn_id), Money::from_minor(amount_cents)) else {
            tracing::error!(txn_id, amount_cents, "the provider's payment is malformed");
            return Ok(Outcome::AmountMismatch);
        };
        let command = ConfirmPayment {
            txn_id: txn,
            amount,
            at: self.now(),
        };
        // the same key as the provider's callback: whichever comes second is a duplicate
        let meta = system_metadata(format!("txn:{txn_id}"));
        let result = self
            .store
            .execute::<Order, _>(&deadline.order_id, None, &meta, |order| {
                order.decide(OrderCommand::ConfirmPayment(command.clone()))
            })
            .await;
        match result {
            Ok(_) => Ok(Outcome::Paid),
            Err(ExecuteError::Domain(OrderError::AmountMismatch { expected, got })) => {
                tracing::error!(
                    expected = expected.minor(),
                    got = got.minor(),
                    "the provider's payment does not match the order"
                );
                Ok(Outcome::AmountMismatch)
            }
            Err(other) => Err(other),
        }
    }

    async fn cancel(&self, deadline: &ClaimedDeadline) -> Result<Outcome, FireError> {
        let command = CancelOrder {
            reason: CancelReason::PaymentTimeout,
            at: self.now(),
        };
        let meta = system_metadata(format!("timeout:{}", deadline.order_id));
        let result = self
            .store
            .execute::<Order, _>(&deadline.order_id, None, &meta, |order| {
                order.decide(OrderCommand::CancelOrder(command.clone()))
            })
            .await;
        match result {
            Ok(_) => Ok(Outcome::Cancelled),
            // paid in the meantime: a cancel that finds the order paid does nothing
            Err(ExecuteError::Domain(OrderError::NotCancellable { .. })) => Ok(Outcome::Settled),
            Err(other) => Err(other),
        }
    }
}

/// The actor of the commands the timer issues.
pub const TIMER_ACTOR: &str = "system:payment-timer";

fn system_metadata(key: String) -> EventMetadata {
    EventMetadata {
        dedup_key: Some(key),
        actor: Some(TIMER_ACTOR.to_owned()),
        ..EventMetadata::default()
    }
}

/// How the timer learns that a deadline was recorded: a wake-up, sent only when the new
/// deadline falls before the one the timer sleeps until (a new order's deadline is normally
/// the latest of all, so under load the timer is not woken once per order).
///
/// While the timer reads, it does not know yet what it will sleep until, so every deadline
/// recorded then sends a wake-up; the timer notes the earliest of them and, once it knows,
/// sleeps on unless one falls before that time. Under load a deadline is recorded during
/// almost every read, and waking on each one kept the timer reading in a loop.
#[derive(Debug)]
pub struct DeadlineWake {
    notify: Notify,
    /// The due time (ms) the timer sleeps until; `i64::MAX` while it is reading.
    sleeping_until_ms: AtomicI64,
    /// The earliest due time (ms) recorded since the timer's read began.
    earliest_recorded_ms: AtomicI64,
}

impl Default for DeadlineWake {
    fn default() -> Self {
        Self {
            notify: Notify::new(),
            sleeping_until_ms: AtomicI64::new(i64::MAX),
            earliest_recorded_ms: AtomicI64::new(i64::MAX),
        }
    }
}

impl DeadlineWake {
    /// Tells the timer that a deadline due at `due_ms` was recorded (after it committed).
    pub fn recorded(&self, due_ms: i64) {
        self.earliest_recorded_ms
            .fetch_min(due_ms, Ordering::SeqCst);
        if due_ms < self.sleeping_until_ms.load(Ordering::SeqCst) {
            self.notify.notify_one();
        }
    }

    /// The timer begins to read: a deadline committed before this is in the read, one
    /// recorded from here on is noted.
    pub(crate) fn reading(&self) {
        self.sleeping_until_ms.store(i64::MAX, Ordering::SeqCst);
        self.earliest_recorded_ms.store(i64::MAX, Ordering::SeqCst);
    }

    /// After a read, waits `pause`, the time until `until_ms`; answers `true` early when a
    /// deadline due before `until_ms` was recorded since [`Self::reading`], so the timer must
    /// read again, and `false` when the pause is over.
    pub(crate) async fn sleep(&self, until_ms: i64, pause: Duration) -> bool {
        self.sleeping_until_ms.store(until_ms, Ordering::SeqCst);
        let over = tokio::time::Instant::now() + pause;
        loop {
            if self.earliest_recorded_ms.load(Ordering::SeqCst) < until_ms {
                return true;
            }
            tokio::select! {
                () = self.notify.notified() => {}
                () = tokio::time::sleep_until(over) => return false,
            }
        }
    }
}

/// Fires deadlines as they fall due until `shutdown`: sleeps until the earliest pending
/// deadline, or until `wake` says an earlier one was recorded, or [`TIMER_IDLE_MAX_MS`].
pub async fn run_timer(firer: DeadlineFirer, wake: Arc<DeadlineWake>, shutdown: CancellationToken) {
    tracing::info!("payment deadline timer started");
    loop {
        wake.reading();
        let pause_ms = match firer.fire_due().await {
            Ok(_) => match firer.deadlines.next_due_ms(firer.now_ms()).await {
                Ok(Some(due)) => {
                    let wait = u64::try_from(due.saturating_sub(firer.now_ms())).unwrap_or(0);
                    wait.min(TIMER_IDLE_MAX_MS)
                }
                Ok(None) => TIMER_IDLE_MAX_MS,
                Err(err) => {
                    tracing::warn!(error = %err, "reading the next deadline failed");
                    TIMER_FAILURE_PAUSE_MS
                }
            },
            Err(err) => {
                tracing::warn!(error = %err, "firing due deadlines failed");
                TIMER_FAILURE_PAUSE_MS
            }
        };
        let until_ms = firer
            .now_ms()
            .saturating_add(i64::try_from(pause_ms).unwrap_or(i64::MAX));
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = wake.sleep(until_ms, Duration::from_millis(pause_ms)) => {}
        }
    }
}

/// Every `interval`, fires whatever is due and was not fired (the timer's backstop), until
/// `shutdown`.
pub async fn run_sweeper(firer: DeadlineFirer, interval: Duration, shutdown: CancellationToken) {
    tracing::info!(
        interval_secs = interval.as_secs(),
        "payment deadline sweeper started"
    );
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(interval) => {}
        }
        match firer.fire_due().await {
            Ok(0) => {}
            Ok(fired) => tracing::warn!(fired, "the sweeper fired deadlines the timer missed"),
            Err(err) => tracing::warn!(error = %err, "the sweeper's round failed"),
        }
    }
}
