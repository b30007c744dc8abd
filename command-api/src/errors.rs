//! The one table from every command error to its HTTP answer.

use actix_web::http::StatusCode;
use domain::{CartError, OrderError, ProductError, SkuError};

use crate::problem::Problem;
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
            Self::AlreadyPaid => conflict("already-paid", "The order is already paid", detail),
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

impl<E: ToProblem + std::error::Error + 'static> From<ExecuteError<E>> for Problem {
    fn from(err: ExecuteError<E>) -> Self {
        match err {
            ExecuteError::Domain(err) => err.to_problem(),
            ExecuteError::VersionMismatch { current } => Problem::version_mismatch(current),
            ExecuteError::Contention => Problem::busy(),
            ExecuteError::Store(err) => Problem::internal(&err),
        }
    }
}

impl From<event_store::StoreError> for Problem {
    fn from(err: event_store::StoreError) -> Self {
        Problem::internal(&err)
    }
}
