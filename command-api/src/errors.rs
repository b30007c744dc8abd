//! The one table from every command error to its HTTP answer.

use domain::{BuyerError, CampaignError, CartError, OrderError, ProductError, SkuError};

use crate::problem::{Problem, ProblemType};
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

fn conflict(kind: ProblemType, detail: String) -> Problem {
    Problem::new(kind).detail(detail)
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
            Self::AlreadyPlacedWithDifferentContent | Self::AlreadyPlaced => {
                conflict(ProblemType::OrderConflict, detail)
            }
            Self::PlacementWasRejected => conflict(ProblemType::PlacementRejected, detail),
            Self::NotCancellable { .. } => conflict(ProblemType::NotCancellable, detail),
            Self::WrongStatus { .. } => conflict(ProblemType::WrongStatus, detail),
            Self::RefundIdReused { .. }
            | Self::UnknownPaymentAfterClose { .. }
            | Self::PaymentAfterCloseAlreadyRefunded { .. }
            | Self::UnknownRefund { .. } => conflict(ProblemType::RefundConflict, detail),
        }
    }
}

impl ToProblem for SkuError {
    fn to_problem(&self) -> Problem {
        let detail = self.to_string();
        match self {
            Self::NotFound => Problem::not_found("SKU"),
            Self::AlreadyExists => conflict(ProblemType::SkuExists, detail),
            Self::InsufficientStock { .. } => conflict(ProblemType::OutOfStock, detail),
            Self::ReservationMismatch { .. } => conflict(ProblemType::OrderConflict, detail),
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
            Self::AlreadyExists => conflict(ProblemType::ProductExists, detail),
            Self::InvalidPrice => Problem::invalid_field("price_cents", detail),
            Self::VersionOverflow => conflict(ProblemType::ProductConflict, detail),
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
            Self::TxnOfAnotherOrder { .. } => {
                conflict(ProblemType::TxnOfAnotherOrder, self.to_string())
            }
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
            Self::ProductChanged { line, .. } => Problem::new(ProblemType::ProductChanged)
                .field(format!("items[{line}].product_version"))
                .detail(detail),
            Self::Order(err) => err.to_problem(),
            Self::Stock(err) => err.to_problem(),
            Self::Campaign(err) => err.to_problem(),
            Self::NotCampaignLine { .. } => Problem::invalid_field("items", detail),
            Self::CampaignSoldOut => conflict(ProblemType::CampaignSoldOut, detail),
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
            Self::NotFound => Problem::new(ProblemType::CampaignNotFound).detail(detail),
            Self::AlreadyExists => conflict(ProblemType::CampaignExists, detail),
            Self::EmptyWindow => Problem::invalid_field("ends_at", detail),
            Self::NoStock => Problem::invalid_field("stock", detail),
            Self::NotStarted { .. } => conflict(ProblemType::CampaignNotStarted, detail),
            Self::Ended { .. } => conflict(ProblemType::CampaignEnded, detail),
        }
    }
}

impl ToProblem for BuyerError {
    fn to_problem(&self) -> Problem {
        let detail = self.to_string();
        match self {
            Self::LimitReached { .. } => conflict(ProblemType::CampaignLimitReached, detail),
            Self::ClaimMismatch { .. } => conflict(ProblemType::OrderConflict, detail),
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
