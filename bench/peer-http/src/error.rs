//! A peer's errors and the one table from each to its answer: RFC 7807
//! `application/problem+json` with the platform's stable `type` for the same case
//! (`/problems/campaign-sold-out`, `/problems/campaign-limit-reached`, ...), so that `loadgen`
//! tells the answers of a peer apart exactly as it does the platform's.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

/// Why a request did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    /// No such thing (`what`: `campaign`, `order`, `product`).
    #[error("no such {0}")]
    NotFound(&'static str),
    /// The campaign has no stock left for this order.
    #[error("the campaign is sold out")]
    SoldOut,
    /// The buyer's orders of the campaign would exceed its limit per buyer.
    #[error("the buyer has reached the campaign's limit")]
    LimitReached,
    /// A SKU has not enough stock for this order.
    #[error("not enough stock of {0}")]
    OutOfStock(String),
    /// Another request is placing this order id right now (a concurrent duplicate).
    #[error("the order is being placed by another request")]
    InProgress,
    /// The payment does not match the order's total.
    #[error("the order's total is {0}")]
    WrongAmount(i64),
    /// The body is not JSON of the expected shape.
    #[error("{0}")]
    BadBody(String),
    /// A field's value is outside its rules.
    #[error("{field}: {detail}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        detail: String,
    },
    /// No bearer token with a subject.
    #[error("a bearer token with a subject is required")]
    Unauthorized,
    /// The route is part of the contract but not of this peer's benchmark.
    #[error("this peer does not serve this route")]
    NotServed,
    /// The store failed (an opaque 500; the cause goes to the log).
    #[error("the store failed")]
    Store(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl PeerError {
    /// A field with a value outside its rules.
    pub fn invalid(field: &'static str, detail: impl Into<String>) -> Self {
        Self::Invalid {
            field,
            detail: detail.into(),
        }
    }

    /// A failure of the store.
    pub fn store(err: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Store(Box::new(err))
    }

    /// The problem's `type` slug.
    fn slug(&self) -> String {
        match self {
            Self::NotFound(what) => format!("{what}-not-found"),
            Self::SoldOut => "campaign-sold-out".to_owned(),
            Self::LimitReached => "campaign-limit-reached".to_owned(),
            Self::OutOfStock(_) => "out-of-stock".to_owned(),
            Self::InProgress => "order-in-progress".to_owned(),
            Self::WrongAmount(_) => "wrong-amount".to_owned(),
            Self::BadBody(_) => "bad-request".to_owned(),
            Self::Invalid { .. } => "invalid-field".to_owned(),
            Self::Unauthorized => "unauthorized".to_owned(),
            Self::NotServed => "not-served".to_owned(),
            Self::Store(_) => "internal".to_owned(),
        }
    }
}

impl ResponseError for PeerError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::NotFound(_) | Self::NotServed => StatusCode::NOT_FOUND,
            Self::SoldOut | Self::LimitReached | Self::OutOfStock(_) | Self::InProgress => {
                StatusCode::CONFLICT
            }
            Self::WrongAmount(_) | Self::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::BadBody(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let detail = if let Self::Store(source) = self {
            tracing::error!(error = %source, "a request failed in the store");
            "the request failed; see the peer's log".to_owned()
        } else {
            self.to_string()
        };
        let mut body = json!({
            "type": format!("/problems/{}", self.slug()),
            "title": status.canonical_reason().unwrap_or("Error"),
            "status": status.as_u16(),
            "detail": detail,
        });
        if let Self::Invalid { field, .. } = self {
            body["field"] = json!(field);
        }
        HttpResponse::build(status)
            .content_type("application/problem+json")
            .body(body.to_string())
    }
}
