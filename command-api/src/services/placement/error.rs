//! Why a placement failed.

use domain::{OrderError, SkuError, SkuId};
use event_store::{ExecuteError, StoreError};

/// Why an order was not placed. Nothing was reserved for it that stays reserved.
#[derive(Debug, thiserror::Error)]
pub enum PlacementError {
    /// The checkout token is not valid for this buyer and order id (or expired).
    #[error("the checkout token is not valid for this buyer and order id")]
    InvalidToken,
    /// No lines.
    #[error("an order needs at least one item")]
    NoItems,
    /// More lines than an order may hold.
    #[error("at most {max} items")]
    TooManyItems {
        /// The limit.
        max: usize,
    },
    /// Line `line` names a SKU an earlier line named.
    #[error("the same SKU twice: use one line with the total quantity")]
    DuplicateSku {
        /// The line, from 0.
        line: usize,
    },
    /// Line `line` names a SKU that is no product.
    #[error("no product {sku}")]
    UnknownProduct {
        /// The line, from 0.
        line: usize,
        /// Its SKU.
        sku: SkuId,
    },
    /// Line `line` names a product version that is not the current one.
    #[error("{sku} is at version {current} (price {price_cents} cents), not {seen}")]
    ProductChanged {
        /// The line, from 0.
        line: usize,
        /// Its SKU.
        sku: SkuId,
        /// The product's current snapshot version.
        current: u32,
        /// Its current unit price.
        price_cents: i64,
        /// The version the buyer saw.
        seen: u32,
    },
    /// Line `line` is another seller's than the first line.
    #[error("all items of an order must come from one seller")]
    MixedSellers {
        /// The line, from 0.
        line: usize,
    },
    /// The order refused the placement (another order holds the id, the id was rejected, ...).
    #[error(transparent)]
    Order(OrderError),
    /// A SKU refused its reservation (out of stock, or the id is being placed with other
    /// quantities).
    #[error(transparent)]
    Stock(SkuError),
    /// The campaign refused the order: none such, not started, ended.
    #[error(transparent)]
    Campaign(domain::CampaignError),
    /// A campaign order is not one line of the campaign's SKU within the per-buyer limit.
    #[error("a campaign order is one line of {sku}, at most {limit} units")]
    NotCampaignLine {
        /// The campaign's SKU.
        sku: SkuId,
        /// Its limit per buyer.
        limit: u32,
    },
    /// Every bucket of the campaign's stock is empty.
    #[error("the campaign is sold out")]
    CampaignSoldOut,
    /// The buyer holds the campaign's limit already.
    #[error(transparent)]
    Limit(domain::BuyerError),
    /// Other writers kept winning the race for a stream.
    #[error("too much contention")]
    Contention,
    /// The store failed; what was reserved is released by a later retry or as abandoned.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<ExecuteError<OrderError>> for PlacementError {
    fn from(err: ExecuteError<OrderError>) -> Self {
        match err {
            ExecuteError::Domain(err) => Self::Order(err),
            ExecuteError::Store(err) => Self::Store(err),
            // a placement's keys are its own, never a client's (no request digest to differ)
            ExecuteError::VersionMismatch { .. }
            | ExecuteError::Contention
            | ExecuteError::KeyReused { .. } => Self::Contention,
        }
    }
}

impl From<ExecuteError<SkuError>> for PlacementError {
    fn from(err: ExecuteError<SkuError>) -> Self {
        match err {
            ExecuteError::Domain(err) => Self::Stock(err),
            ExecuteError::Store(err) => Self::Store(err),
            // a placement's keys are its own, never a client's (no request digest to differ)
            ExecuteError::VersionMismatch { .. }
            | ExecuteError::Contention
            | ExecuteError::KeyReused { .. } => Self::Contention,
        }
    }
}
