//! The payment provider as the platform sees it: trades (one per order) and refunds.
//!
//! Every call is idempotent: a trade is named by its trade number and a refund by its refund
//! number, so a call repeated after a timeout or a crash does nothing twice. [`with_retries`]
//! repeats a failing call a bounded number of times with backoff; callers that must not give
//! up (reactions) are retried again by their runner, and nothing on the command path waits
//! on the provider.

use std::future::Future;
use std::time::Duration;

use futures::future::BoxFuture;

/// Attempts per gateway call before the caller is told it failed.
pub const GATEWAY_RETRIES_MAX: u32 = 4;
/// First pause between attempts; doubles each time.
const GATEWAY_BACKOFF_MIN_MS: u64 = 50;
/// Longest pause between attempts.
const GATEWAY_BACKOFF_MAX_MS: u64 = 1_000;

/// A trade to open for an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTrade {
    /// The trade number (the call's idempotency key).
    pub trade_no: String,
    /// The order it pays for.
    pub order_id: String,
    /// What the buyer must pay, in cents.
    pub amount_cents: i64,
}

/// Where a trade is, as the provider knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TradeStatus {
    /// The provider has no such trade.
    NotFound,
    /// Open and unpaid.
    Unpaid,
    /// Paid by transaction `txn_id`.
    Paid {
        /// The provider's transaction.
        txn_id: String,
        /// What was paid, in cents.
        amount_cents: i64,
    },
    /// Closed unpaid: it can no longer be paid.
    Closed,
}

/// A refund to pay out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundOrder {
    /// The refund number (the call's idempotency key).
    pub refund_no: String,
    /// The transaction whose money goes back.
    pub txn_id: String,
    /// How much, in cents.
    pub amount_cents: i64,
}

/// Where a refund is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundStatus {
    /// Accepted, not paid out yet: ask again later.
    Pending,
    /// Paid out.
    Succeeded,
}

/// Why a gateway call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GatewayError {
    /// The provider did not answer or answered with an error; the call may be repeated.
    #[error("the payment provider is unavailable: {0}")]
    Unavailable(String),
    /// The provider refused the call for good (for example a refund above what was paid).
    #[error("the payment provider refused: {0}")]
    Refused(String),
}

impl GatewayError {
    /// Whether repeating the call may succeed.
    pub const fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}

/// The payment provider's API. Implementations are idempotent per trade and refund number.
pub trait PaymentGateway: Send + Sync + std::fmt::Debug + 'static {
    /// Opens the trade (again: nothing changes).
    fn create_trade(&self, trade: NewTrade) -> BoxFuture<'_, Result<(), GatewayError>>;

    /// The trade's status.
    fn query_trade(&self, trade_no: String) -> BoxFuture<'_, Result<TradeStatus, GatewayError>>;

    /// Closes the trade unless it is paid, and answers with its status afterwards: `Closed`
    /// (also when it was closed before), `NotFound`, or `Paid` when the buyer paid first.
    fn close_trade(&self, trade_no: String) -> BoxFuture<'_, Result<TradeStatus, GatewayError>>;

    /// Requests the refund (again: answers with its status, pays nothing twice).
    fn refund(&self, refund: RefundOrder) -> BoxFuture<'_, Result<RefundStatus, GatewayError>>;
}

/// The gateway of a server with no payment provider (`payment_provider = "none"`): there is
/// no trade to open or close, so a deadline finds none and cancels its unpaid order, and a
/// refund is refused (the refund reaction leaves it open and logs it for an operator).
/// Payments still arrive as signed callbacks.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProvider;

impl PaymentGateway for NoProvider {
    fn create_trade(&self, _: NewTrade) -> BoxFuture<'_, Result<(), GatewayError>> {
        Box::pin(async { Ok(()) })
    }

    fn query_trade(&self, _: String) -> BoxFuture<'_, Result<TradeStatus, GatewayError>> {
        Box::pin(async { Ok(TradeStatus::NotFound) })
    }

    fn close_trade(&self, _: String) -> BoxFuture<'_, Result<TradeStatus, GatewayError>> {
        Box::pin(async { Ok(TradeStatus::NotFound) })
    }

    fn refund(&self, refund: RefundOrder) -> BoxFuture<'_, Result<RefundStatus, GatewayError>> {
        Box::pin(async move {
            Err(GatewayError::Refused(format!(
                "no payment provider is configured to pay refund {} out",
                refund.refund_no
            )))
        })
    }
}

/// Runs `call` until it succeeds, fails for good, or has failed [`GATEWAY_RETRIES_MAX`] times,
/// pausing with exponential backoff between attempts.
pub async fn with_retries<T, F, Fut>(what: &str, mut call: F) -> Result<T, GatewayError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, GatewayError>>,
{
    let mut pause = Duration::from_millis(GATEWAY_BACKOFF_MIN_MS);
    let mut attempt = 1;
    loop {
        match call().await {
            Ok(value) => return Ok(value),
            Err(err) if err.is_transient() && attempt < GATEWAY_RETRIES_MAX => {
                tracing::warn!(call = what, attempt, error = %err, "gateway call failed; retrying");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_millis(GATEWAY_BACKOFF_MAX_MS));
                attempt += 1;
            }
            Err(err) => return Err(err),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    #[tokio::test]
    async fn a_transient_failure_is_retried_a_bounded_number_of_times() {
        let calls = AtomicU32::new(0);
        let failed: Result<(), _> = with_retries("test", || {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Err(GatewayError::Unavailable("down".into())) }
        })
        .await;
        assert!(failed.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), GATEWAY_RETRIES_MAX);

        let calls = AtomicU32::new(0);
        let refused: Result<(), _> = with_retries("test", || {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Err(GatewayError::Refused("no".into())) }
        })
        .await;
        assert_eq!(refused, Err(GatewayError::Refused("no".into())));
        assert_eq!(calls.load(Ordering::SeqCst), 1, "a refusal is final");

        let calls = AtomicU32::new(0);
        let recovered = with_retries("test", || {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            async move {
                if n < 2 {
                    Err(GatewayError::Unavailable("blip".into()))
                } else {
                    Ok(n)
                }
            }
        })
        .await;
        assert_eq!(recovered, Ok(2));
    }
}
