//! Use cases, callable without HTTP: the routes, the command line, the tests and message
//! consumers call the same services. A service takes typed input (ids and quantities parsed at
//! the edge), reads time from the [`Clock`], decides through [`event_store::execute`] and
//! answers with the aggregate's state and version, or a typed error that `crate::errors` maps
//! to its HTTP answer in one table.
//!
//! - [`placement`]: placing a checked-out order (decide, reserve every SKU, compensate, place);
//! - [`fulfilment`]: what the buyer and seller do with a placed order (cancel, logistics, ship,
//!   confirm receipt, refunds);
//! - [`payment`]: the provider's payment notifications;
//! - [`catalogue`]: products, prices and stock;
//! - [`cart`]: the buyer's cart;
//! - [`campaigns`]: flash-sale campaigns (creating, listing, ending; their orders are
//!   placement's).

pub(crate) mod campaign_streams;
pub mod campaigns;
pub mod cart;
pub mod catalogue;
pub mod fulfilment;
pub mod payment;
pub mod placement;

use std::sync::Arc;

use sha2::{Digest, Sha256};

use chrono::{DateTime, Utc};
use ids::SegmentAllocator;
use shards::Stores;

use crate::checkout_token::CheckoutTokens;

/// The time every service reads: the system clock in production, a manual one in tests, so
/// that a test moves time instead of sleeping for it.
#[derive(Clone, Debug)]
pub struct Clock(Arc<dyn ids::Clock>);

impl Clock {
    /// The operating system's clock.
    pub fn system() -> Self {
        Self(Arc::new(ids::SystemClock::new()))
    }

    /// A clock reading `inner` (e.g. an [`ids::ManualClock`] a test moves).
    pub fn new(inner: Arc<dyn ids::Clock>) -> Self {
        Self(inner)
    }

    /// The id allocators' and the deadline timer's view of the same clock.
    pub fn ids_clock(&self) -> Arc<dyn ids::Clock> {
        Arc::clone(&self.0)
    }

    /// Now, to the millisecond.
    pub fn now(&self) -> DateTime<Utc> {
        let ms = i64::try_from(self.0.wall_ms()).unwrap_or(i64::MAX);
        // a wall clock past the year 262143 reads as the latest time chrono can hold
        DateTime::from_timestamp_millis(ms).unwrap_or(DateTime::<Utc>::MAX_UTC)
    }
}

/// Every use case, sharing one store and one clock.
#[derive(Clone, Debug)]
pub struct Services {
    /// Placing orders.
    pub placement: placement::Placement,
    /// Updates of placed orders.
    pub fulfilment: fulfilment::Fulfilment,
    /// Payment notifications.
    pub payment: payment::Payments,
    /// Products and stock.
    pub catalogue: catalogue::Catalogue,
    /// Carts.
    pub cart: cart::Carts,
    /// Flash-sale campaigns.
    pub campaigns: campaigns::Campaigns,
}

impl Services {
    /// The services over `store`, reading time from `clock`; placement checks tokens with
    /// `checkout` and gives each order `payment_timeout` to be paid; refunds are numbered by
    /// `refund_numbers`.
    pub fn new(
        store: Stores,
        clock: Clock,
        checkout: CheckoutTokens,
        payment_timeout: chrono::Duration,
        refund_numbers: SegmentAllocator,
    ) -> Self {
        Self {
            placement: placement::Placement::new(
                store.clone(),
                clock.clone(),
                checkout,
                payment_timeout,
            ),
            fulfilment: fulfilment::Fulfilment::new(store.clone(), clock.clone(), refund_numbers),
            payment: payment::Payments::new(store.clone(), clock.clone()),
            catalogue: catalogue::Catalogue::new(store.clone(), clock.clone()),
            campaigns: campaigns::Campaigns::new(store.clone(), clock.clone()),
            cart: cart::Carts::new(store, clock),
        }
    }
}

#[cfg(test)]
mod tests;

/// The digest of a command carrying a client's `Idempotency-Key` (`EventMetadata`'s
/// `request_digest`): what it does (`what`) and its content, so that a retry with the same key
/// and other content is told from a retry.
pub fn request_digest(what: &str, content: &impl serde::Serialize) -> String {
    let mut digest = Sha256::new();
    digest.update(what.as_bytes());
    digest.update(b"\n");
    // serialising plain data into bytes cannot fail
    digest.update(serde_json::to_vec(content).unwrap_or_default());
    digest
        .finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}
