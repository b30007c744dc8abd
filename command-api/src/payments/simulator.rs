//! A payment provider simulator behind [`PaymentGateway`], in process memory.
//!
//! It keeps trades and refunds like a provider would, lets a buyer "scan and pay" a trade
//! ([`Simulator::pay`]), and then sends the provider's success callback to
//! `/v1/payments/notify` — with faults injected as configured: a callback can be dropped,
//! sent twice, or delayed, each a given number of times per thousand.
//!
//! Refunds are paid out after a configured settling time, as a provider's are, so the
//! platform sees them pending first. A refund against a transaction the simulator did not
//! issue (a notification posted by hand, as tests and the walk-through do) is accepted.
//! Its memory does not survive a restart: a trade it no longer knows is `NotFound`, which the
//! deadline timer treats as unpaid.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use serde::Serialize;
use utoipa::ToSchema;

use crate::payments::gateway::{
    GatewayError, NewTrade, PaymentGateway, RefundOrder, RefundStatus, TradeStatus,
};
use crate::payments::signature::{CallbackKey, SIGNATURE_HEADER};

/// Per-mille probabilities are out of this.
pub const PERMILLE_MAX: u16 = 1_000;

/// Faults injected into success callbacks. Each probability is in per mille (0 to 1000).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallbackFaults {
    /// How often a callback is never sent.
    pub drop_permille: u16,
    /// How often a callback is sent twice.
    pub duplicate_permille: u16,
    /// How often a callback is sent late.
    pub delay_permille: u16,
    /// How late, in ms.
    pub delay_ms: u64,
}

/// What happened to a payment's success callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CallbackFate {
    /// Sent once, now.
    Sent,
    /// Never sent (the provider's callback was lost).
    Dropped,
    /// Sent twice.
    Duplicated,
    /// Sent after the configured delay.
    Delayed,
    /// The trade was paid before: no new callback.
    AlreadyPaid,
}

/// A payment made through the simulator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct SimulatedPayment {
    /// The trade paid.
    pub trade_no: String,
    /// The order it paid for.
    pub order_id: String,
    /// The provider's transaction id.
    pub txn_id: String,
    /// What was paid, in cents.
    pub amount_cents: i64,
    /// What happened to the success callback.
    pub callback: CallbackFate,
}

/// Why the simulator refused a payment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayError {
    /// No open trade for the order (not created yet, or forgotten by a restart).
    #[error("no trade for this order")]
    NoTrade,
    /// The trade was closed unpaid (the order's deadline passed or it was cancelled).
    #[error("the trade is closed")]
    Closed,
}

/// A trade number or order id as the books keep it: inline when it is the canonical decimal
/// text of a number (as an order id is), else as its text (a trade number: `TR` and a
/// number). Two texts are the same key exactly when they are the same text. The books hold
/// every trade until the process ends, so a trade's size is most of the server's memory growth
/// per order: its ids as `String`s nearly doubled it (docs/benchmarks.md).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Number(u64),
    Text(Box<str>),
}

impl Key {
    fn of(text: &str) -> Self {
        let canonical =
            text.bytes().all(|b| b.is_ascii_digit()) && !(text.len() > 1 && text.starts_with('0'));
        match text.parse() {
            Ok(number) if canonical => Self::Number(number),
            _ => Self::Text(text.into()),
        }
    }
}

impl std::fmt::Display for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Number(number) => write!(f, "{number}"),
            Self::Text(text) => f.write_str(text),
        }
    }
}

/// The transaction id the simulator gives the payment of `trade_no`.
fn txn_id_of(trade_no: &Key) -> String {
    format!("{TXN_ID_PREFIX}{trade_no}")
}

/// What the simulator's transaction ids start with; the rest is the trade number.
const TXN_ID_PREFIX: &str = "SIM-";

#[derive(Debug, Clone)]
struct Trade {
    order_id: Key,
    amount_cents: i64,
    state: TradeState,
}

/// A paid trade's transaction id is [`txn_id_of`] its number, so it is not kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TradeState {
    Unpaid,
    Paid,
    Closed,
}

#[derive(Debug, Clone)]
struct SimRefund {
    requested_ms: u64,
}

#[derive(Debug, Default)]
struct Books {
    /// By trade number.
    trades: HashMap<Key, Trade>,
    /// The trade number of each order.
    by_order: HashMap<Key, Key>,
    refunds: HashMap<String, SimRefund>,
    /// Refunded so far per transaction, in cents.
    refunded: HashMap<String, i64>,
}

/// Where success callbacks go, and how they are signed.
#[derive(Debug, Clone)]
pub struct CallbackTarget {
    /// `http://host:port/v1/payments/notify`.
    pub url: String,
    /// The secret shared with the server (`payment_callback_secret`) that signs each callback.
    pub callback_secret: String,
}

/// The simulated provider.
pub struct Simulator {
    books: Mutex<Books>,
    faults: CallbackFaults,
    refund_settle_ms: u64,
    callback: Option<CallbackTarget>,
    client: reqwest::Client,
    key: Option<CallbackKey>,
    clock: Arc<dyn ids::Clock>,
    rng: Mutex<u64>,
}

impl std::fmt::Debug for Simulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulator")
            .field("faults", &self.faults)
            .field("refund_settle_ms", &self.refund_settle_ms)
            .field("callback_url", &self.callback.as_ref().map(|c| &c.url))
            .finish_non_exhaustive()
    }
}

impl Simulator {
    /// A simulator that sends callbacks to `callback` (none: payments are only visible by
    /// querying the trade), with `faults`, paying refunds out `refund_settle_ms` after they
    /// are requested.
    pub fn new(
        callback: Option<CallbackTarget>,
        faults: CallbackFaults,
        refund_settle_ms: u64,
        clock: Arc<dyn ids::Clock>,
    ) -> Self {
        let key = callback
            .as_ref()
            .map(|target| CallbackKey::new(&target.callback_secret));
        let seed = clock.wall_ms() | 1;
        Self {
            books: Mutex::new(Books::default()),
            faults,
            refund_settle_ms,
            callback,
            client: reqwest::Client::new(),
            key,
            clock,
            rng: Mutex::new(seed),
        }
    }

    fn books(&self) -> std::sync::MutexGuard<'_, Books> {
        // a panic while holding the lock leaves the books consistent (every change is one
        // insert), so a poisoned lock is still usable
        self.books
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether an event of probability `permille` happens this time (xorshift; no need for
    /// cryptographic randomness here).
    fn roll(&self, permille: u16) -> bool {
        if permille == 0 {
            return false;
        }
        let mut state = self
            .rng
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut x = *state;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *state = x;
        x % u64::from(PERMILLE_MAX) < u64::from(permille.min(PERMILLE_MAX))
    }

    /// The buyer scans the order's trade and pays it in full. Paying a paid trade again pays
    /// nothing and sends no callback.
    pub fn pay(&self, order_id: &str) -> Result<SimulatedPayment, PayError> {
        let (trade_no, amount_cents, already) = {
            let mut books = self.books();
            let trade_no = books
                .by_order
                .get(&Key::of(order_id))
                .cloned()
                .ok_or(PayError::NoTrade)?;
            let trade = books.trades.get_mut(&trade_no).ok_or(PayError::NoTrade)?;
            let already = match trade.state {
                TradeState::Closed => return Err(PayError::Closed),
                TradeState::Paid => true,
                TradeState::Unpaid => {
                    trade.state = TradeState::Paid;
                    false
                }
            };
            (trade_no, trade.amount_cents, already)
        };
        let txn_id = txn_id_of(&trade_no);
        let callback = if already {
            CallbackFate::AlreadyPaid
        } else {
            self.send_callback(order_id, &txn_id, amount_cents)
        };
        Ok(SimulatedPayment {
            trade_no: trade_no.to_string(),
            order_id: order_id.to_owned(),
            txn_id,
            amount_cents,
            callback,
        })
    }

    /// Sends the success callback in the background, with the configured faults.
    fn send_callback(&self, order_id: &str, txn_id: &str, amount_cents: i64) -> CallbackFate {
        let (Some(target), Some(key)) = (&self.callback, &self.key) else {
            return CallbackFate::Dropped;
        };
        if self.roll(self.faults.drop_permille) {
            tracing::info!(order_id, txn_id, "simulator: callback dropped");
            return CallbackFate::Dropped;
        }
        let duplicate = self.roll(self.faults.duplicate_permille);
        let delay = self
            .roll(self.faults.delay_permille)
            .then_some(Duration::from_millis(self.faults.delay_ms));
        let body = serde_json::json!({
            "order_id": order_id,
            "txn_id": txn_id,
            "amount_cents": amount_cents,
        })
        .to_string();
        let key = key.clone();
        let clock = self.clock.clone();
        let client = self.client.clone();
        let url = target.url.clone();
        tokio::spawn(async move {
            if let Some(delay) = delay {
                tokio::time::sleep(delay).await;
            }
            let sends = if duplicate { 2 } else { 1 };
            for _ in 0..sends {
                // signed when sent, as a provider does, so a delayed callback is not stale
                let now_secs = i64::try_from(clock.wall_ms() / 1_000).unwrap_or(i64::MAX);
                match client
                    .post(&url)
                    .header(SIGNATURE_HEADER, key.sign(now_secs, body.as_bytes()))
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(body.clone())
                    .send()
                    .await
                {
                    Ok(response) => {
                        tracing::info!(status = %response.status(), "simulator: callback sent");
                    }
                    Err(err) => tracing::warn!(error = %err, "simulator: callback failed"),
                }
            }
        });
        match (duplicate, delay) {
            (true, _) => CallbackFate::Duplicated,
            (false, Some(_)) => CallbackFate::Delayed,
            (false, None) => CallbackFate::Sent,
        }
    }

    fn create(&self, trade: &NewTrade) {
        let trade_no = Key::of(&trade.trade_no);
        let mut books = self.books();
        if books.trades.contains_key(&trade_no) {
            return;
        }
        let order_id = Key::of(&trade.order_id);
        books.by_order.insert(order_id.clone(), trade_no.clone());
        books.trades.insert(
            trade_no,
            Trade {
                order_id,
                amount_cents: trade.amount_cents,
                state: TradeState::Unpaid,
            },
        );
    }

    fn status(&self, trade_no: &str) -> TradeStatus {
        let trade_no = Key::of(trade_no);
        let books = self.books();
        match books.trades.get(&trade_no) {
            None => TradeStatus::NotFound,
            Some(trade) => match trade.state {
                TradeState::Unpaid => TradeStatus::Unpaid,
                TradeState::Closed => TradeStatus::Closed,
                TradeState::Paid => TradeStatus::Paid {
                    txn_id: txn_id_of(&trade_no),
                    amount_cents: trade.amount_cents,
                },
            },
        }
    }

    fn close(&self, trade_no: &str) -> TradeStatus {
        {
            let mut books = self.books();
            if let Some(trade) = books.trades.get_mut(&Key::of(trade_no)) {
                if trade.state == TradeState::Unpaid {
                    trade.state = TradeState::Closed;
                    tracing::debug!(trade_no, order_id = %trade.order_id, "simulator: trade closed");
                }
            }
        }
        self.status(trade_no)
    }

    fn refund_now(&self, refund: &RefundOrder) -> Result<RefundStatus, GatewayError> {
        let now = self.clock.wall_ms();
        let mut books = self.books();
        let requested_ms = if let Some(existing) = books.refunds.get(&refund.refund_no) {
            existing.requested_ms
        } else {
            let paid = refund
                .txn_id
                .strip_prefix(TXN_ID_PREFIX)
                .and_then(|trade_no| books.trades.get(&Key::of(trade_no)))
                .filter(|trade| trade.state == TradeState::Paid)
                .map(|trade| trade.amount_cents);
            let refunded = books.refunded.get(&refund.txn_id).copied().unwrap_or(0);
            if let Some(paid) = paid {
                if refunded + refund.amount_cents > paid {
                    return Err(GatewayError::Refused(format!(
                        "refund {} of {} cents exceeds what is left of {} ({} of {})",
                        refund.refund_no,
                        refund.amount_cents,
                        refund.txn_id,
                        paid - refunded,
                        paid
                    )));
                }
            }
            books
                .refunded
                .insert(refund.txn_id.clone(), refunded + refund.amount_cents);
            books
                .refunds
                .insert(refund.refund_no.clone(), SimRefund { requested_ms: now });
            now
        };
        Ok(
            if now.saturating_sub(requested_ms) >= self.refund_settle_ms {
                RefundStatus::Succeeded
            } else {
                RefundStatus::Pending
            },
        )
    }
}

impl PaymentGateway for Simulator {
    fn create_trade(&self, trade: NewTrade) -> BoxFuture<'_, Result<(), GatewayError>> {
        Box::pin(async move {
            self.create(&trade);
            Ok(())
        })
    }

    fn query_trade(&self, trade_no: String) -> BoxFuture<'_, Result<TradeStatus, GatewayError>> {
        Box::pin(async move { Ok(self.status(&trade_no)) })
    }

    fn close_trade(&self, trade_no: String) -> BoxFuture<'_, Result<TradeStatus, GatewayError>> {
        Box::pin(async move { Ok(self.close(&trade_no)) })
    }

    fn refund(&self, refund: RefundOrder) -> BoxFuture<'_, Result<RefundStatus, GatewayError>> {
        Box::pin(async move { self.refund_now(&refund) })
    }
}

#[cfg(test)]
mod tests {
    use ids::ManualClock;

    use super::*;

    fn simulator(clock: Arc<ManualClock>, settle_ms: u64) -> Simulator {
        Simulator::new(None, CallbackFaults::default(), settle_ms, clock)
    }

    fn trade(no: &str, order: &str, cents: i64) -> NewTrade {
        NewTrade {
            trade_no: no.into(),
            order_id: order.into(),
            amount_cents: cents,
        }
    }

    #[tokio::test]
    async fn a_paid_trade_cannot_be_closed_and_a_closed_one_cannot_be_paid() {
        let sim = simulator(Arc::new(ManualClock::new(1_000)), 0);
        sim.create_trade(trade("T1", "1", 500)).await.ok();
        sim.create_trade(trade("T2", "2", 700)).await.ok();
        let paid = sim.pay("1").unwrap();
        assert_eq!(paid.amount_cents, 500);
        assert_eq!(
            sim.close_trade("T1".into()).await,
            Ok(TradeStatus::Paid {
                txn_id: paid.txn_id.clone(),
                amount_cents: 500
            })
        );
        assert_eq!(sim.pay("1").unwrap().callback, CallbackFate::AlreadyPaid);
        assert_eq!(sim.close_trade("T2".into()).await, Ok(TradeStatus::Closed));
        assert_eq!(sim.pay("2"), Err(PayError::Closed));
        assert_eq!(sim.pay("3"), Err(PayError::NoTrade));
        assert_eq!(
            sim.query_trade("T9".into()).await,
            Ok(TradeStatus::NotFound)
        );
    }

    #[tokio::test]
    async fn refunds_settle_after_their_time_once_and_never_exceed_the_payment() {
        let clock = Arc::new(ManualClock::new(1_000));
        let sim = simulator(clock.clone(), 2_000);
        sim.create_trade(trade("T1", "1", 1_000)).await.ok();
        let txn_id = sim.pay("1").unwrap().txn_id;
        let refund = |no: &str, cents| RefundOrder {
            refund_no: no.into(),
            txn_id: txn_id.clone(),
            amount_cents: cents,
        };
        assert_eq!(
            sim.refund(refund("R1", 600)).await,
            Ok(RefundStatus::Pending)
        );
        clock.advance_ms(2_000);
        assert_eq!(
            sim.refund(refund("R1", 600)).await,
            Ok(RefundStatus::Succeeded)
        );
        // the same refund number again is the same refund, not a second 600
        assert_eq!(
            sim.refund(refund("R1", 600)).await,
            Ok(RefundStatus::Succeeded)
        );
        assert!(matches!(
            sim.refund(refund("R2", 401)).await,
            Err(GatewayError::Refused(_))
        ));
        assert_eq!(
            sim.refund(refund("R2", 400)).await,
            Ok(RefundStatus::Pending)
        );
    }

    #[tokio::test]
    async fn numbers_are_kept_as_numbers_and_other_texts_as_themselves() {
        let sim = simulator(Arc::new(ManualClock::new(1_000)), 0);
        sim.create_trade(trade("1234567890123", "42", 500))
            .await
            .ok();
        sim.create_trade(trade("0123", "T-42", 700)).await.ok();
        let paid = sim.pay("42").unwrap();
        assert_eq!(paid.trade_no, "1234567890123");
        assert_eq!(paid.txn_id, "SIM-1234567890123");
        assert_eq!(sim.pay("042"), Err(PayError::NoTrade));
        assert_eq!(sim.pay("+42"), Err(PayError::NoTrade));
        assert_eq!(sim.pay("T-42").unwrap().trade_no, "0123");
        assert_eq!(
            sim.query_trade("123".into()).await,
            Ok(TradeStatus::NotFound)
        );
        assert_eq!(
            sim.query_trade("0123".into()).await,
            Ok(TradeStatus::Paid {
                txn_id: "SIM-0123".into(),
                amount_cents: 700
            })
        );
        assert_eq!(Key::of("0"), Key::Number(0));
        assert_eq!(
            Key::of("18446744073709551616"),
            Key::Text("18446744073709551616".into())
        );
        assert_eq!(Key::of(""), Key::Text("".into()));
    }

    #[test]
    fn a_trades_entries_in_the_books_take_at_most_80_bytes() {
        // every trade is held until the process ends: this is the server's growth per order
        assert!(std::mem::size_of::<(Key, Trade)>() <= 48);
        assert!(std::mem::size_of::<(Key, Key)>() <= 32);
    }

    #[test]
    fn fault_rolls_follow_their_per_mille() {
        let sim = simulator(Arc::new(ManualClock::new(12_345)), 0);
        assert!(!sim.roll(0));
        assert!(sim.roll(PERMILLE_MAX));
        let hits = (0..10_000).filter(|_| sim.roll(250)).count();
        assert!(
            (2_000..3_000).contains(&hits),
            "{hits} of 10000 at 250 per mille"
        );
    }
}
