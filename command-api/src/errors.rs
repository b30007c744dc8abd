//! The one table from every command error to its HTTP answer.

use actix_web::http::StatusCode;
use domain::{BuyerError, CampaignError, CartError, OrderError, ProductError, SkuError};

use crate::problem::Problem;
use crate::services::campaigns::CampaignsError;
use crate::services::catalogue::CatalogueError;
use crate::services::fulfilment::FulfilmentError;
use crate::services::payment::PaymentError;
use crate::services::placement::PlacementError;
use event_store::ExecuteError;

/// Converts a domain error to its problem answer.
pub trait ToProblem {
    /// The answer for this error.
    fn to_problem(&self) -> Problem;
}

fn conflict(slug: &str, title: &str, detail: String) -> Problem {
    Problem::new(StatusCode::CONFLICT, slug, title).detail(detail)
}

impl ToProblem for OrderError {
    fn to_problem(&self) -> Problem {
        let detail = self.to_string();
        match self {
            Self::NotFound => Problem::not_found("order"),
            Self::NoItems
            | Self::TooManyItems { .. }
            | Self::SellerMismatch { .. }
            | Self::DuplicateSku { .. }
            | Self::NoRefundItems
            | Self::UnknownLine { .. }
            | Self::DuplicateRefundLine { .. }
            | Self::RefundExceedsQuantity { .. } => Problem::invalid_field("items", detail),
            Self::DiscountExceedsListTotal { .. } => Problem::invalid_field("discount", detail),
            Self::AmountMismatch { .. } => Problem::invalid_field("amount_cents", detail),
            Self::MissingTrackingNumber => Problem::invalid_field("tracking_number", detail),
            Self::PaymentDueNotAfterPlacement | Self::Overflow => {
                Problem::invalid_field("items", detail)
            }
            Self::AlreadyPlacedWithDifferentContent | Self::AlreadyPlaced => conflict(
                "order-conflict",
                "The order id is used by another order",
                detail,
            ),
            Self::PlacementWasRejected => conflict(
                "placement-rejected",
                "This order id's placement failed; check out again",
                detail,
            ),
            Self::NotCancellable { .. } => conflict(
                "not-cancellable",
                "The order can no longer be cancelled",
                detail,
            ),
            Self::WrongStatus { .. } => conflict(
                "wrong-status",
                "Not possible in the order's current status",
                detail,
            ),
            Self::RefundIdReused { .. }
            | Self::UnknownPaymentAfterClose { .. }
            | Self::PaymentAfterCloseAlreadyRefunded { .. }
            | Self::UnknownRefund { .. } => {
                conflict("refund-conflict", "Refund not possible", detail)
            }
        }
    }
}

impl ToProblem for SkuError {
    fn to_problem(&self) -> Problem {
        let detail = self.to_string();
        match self {
            Self::NotFound => Problem::not_found("SKU"),
            Self::AlreadyExists => conflict("sku-exists", "The SKU already exists", detail),
            Self::InsufficientStock { .. } => conflict("out-of-stock", "Not enough stock", detail),
            Self::ReservationMismatch { .. } => conflict(
                "order-conflict",
                "The order id is being placed with other quantities",
                detail,
            ),
            Self::ZeroStockAdded => Problem::invalid_field("quantity", detail),
            Self::Overflow => Problem::invalid_field("quantity", detail),
        }
    }
}

impl ToProblem for ProductError {
    fn to_problem(&self) -> Problem {
        let detail = self.to_string();
        match self {
            Self::NotFound => Problem::not_found("product"),
            Self::AlreadyExists => conflict("product-exists", "The product already exists", detail),
            Self::InvalidPrice => Problem::invalid_field("price_cents", detail),
            Self::VersionOverflow => {
                conflict("product-conflict", "Product version overflow", detail)
            }
        }
    }
}

impl ToProblem for CartError {
    fn to_problem(&self) -> Problem {
        Problem::invalid_field("sku", self.to_string())
    }
}

impl ToProblem for PaymentError {
    fn to_problem(&self) -> Problem {
        match self {
            Self::TxnOfAnotherOrder { .. } => conflict(
                "txn-of-another-order",
                "This transaction paid another order",
                self.to_string(),
            ),
            Self::Order(err) => err.to_problem(),
        }
    }
}

impl ToProblem for PlacementError {
    fn to_problem(&self) -> Problem {
        let detail = self.to_string();
        let line_sku = |line: &usize| format!("items[{line}].sku");
        match self {
            Self::InvalidToken => Problem::forbidden(detail),
            Self::NoItems | Self::TooManyItems { .. } => Problem::invalid_field("items", detail),
            Self::DuplicateSku { line }
            | Self::UnknownProduct { line, .. }
            | Self::MixedSellers { line } => Problem::invalid_field(&line_sku(line), detail),
            Self::ProductChanged { line, .. } => Problem::new(
                StatusCode::CONFLICT,
                "product-changed",
                "The product changed, refresh",
            )
            .field(format!("items[{line}].product_version"))
            .detail(detail),
            Self::Order(err) => err.to_problem(),
            Self::Stock(err) => err.to_problem(),
            Self::Campaign(err) => err.to_problem(),
            Self::NotCampaignLine { .. } => Problem::invalid_field("items", detail),
            Self::CampaignSoldOut => {
                conflict("campaign-sold-out", "The campaign is sold out", detail)
            }
            Self::Limit(err) => err.to_problem(),
            Self::Contention => Problem::busy(),
            Self::Store(err) => Problem::store(err),
        }
    }
}

impl ToProblem for CampaignError {
    fn to_problem(&self) -> Problem {
        let detail = self.to_string();
        match self {
            Self::NotFound => Problem::new(
                StatusCode::NOT_FOUND,
                "campaign-not-found",
                "No such campaign",
            )
            .detail(detail),
            Self::AlreadyExists => conflict("campaign-exists", "The campaign exists", detail),
            Self::EmptyWindow => Problem::invalid_field("ends_at", detail),
            Self::NoStock => Problem::invalid_field("stock", detail),
            Self::NotStarted { .. } => conflict(
                "campaign-not-started",
                "The campaign has not started",
                detail,
            ),
            Self::Ended { .. } => conflict("campaign-ended", "The campaign has ended", detail),
        }
    }
}

impl ToProblem for BuyerError {
    fn to_problem(&self) -> Problem {
        let detail = self.to_string();
        match self {
            Self::LimitReached { .. } => conflict(
                "campaign-limit-reached",
                "The buyer holds the campaign's limit",
                detail,
            ),
            Self::ClaimMismatch { .. } => conflict(
                "order-conflict",
                "The order id is being placed with other quantities",
                detail,
            ),
        }
    }
}

impl ToProblem for CampaignsError {
    fn to_problem(&self) -> Problem {
        match self {
            Self::Campaign(err) => err.to_problem(),
            Self::Stock(err) => err.to_problem(),
            Self::Contention => Problem::busy(),
            Self::Store(err) => Problem::store(err),
        }
    }
}

impl ToProblem for FulfilmentError {
    fn to_problem(&self) -> Problem {
        match self {
            Self::VersionMismatch { current } => Problem::version_mismatch(*current),
            Self::NoRefundNumber => {
                Problem::busy().detail("refund numbers cannot be issued right now; retry shortly")
            }
            Self::Execute(err) => err.to_problem(),
        }
    }
}

impl ToProblem for CatalogueError {
    fn to_problem(&self) -> Problem {
        match self {
            Self::ZeroPrice => Problem::invalid_field("price_cents", self.to_string()),
            Self::Product(err) => err.to_problem(),
            Self::Stock(err) => err.to_problem(),
        }
    }
}

impl<E: ToProblem + std::error::Error + 'static> ToProblem for ExecuteError<E> {
    fn to_problem(&self) -> Problem {
        match self {
            ExecuteError::Domain(err) => err.to_problem(),
            ExecuteError::VersionMismatch { current } => Problem::version_mismatch(*current),
            ExecuteError::Contention => Problem::busy(),
            ExecuteError::KeyReused { .. } => Problem::key_reused(),
            ExecuteError::Store(err) => Problem::store(err),
        }
    }
}

impl<E: ToProblem + std::error::Error + 'static> From<ExecuteError<E>> for Problem {
    fn from(err: ExecuteError<E>) -> Self {
        err.to_problem()
    }
}

impl From<event_store::StoreError> for Problem {
    fn from(err: event_store::StoreError) -> Self {
        Problem::store(&err)
    }
}
