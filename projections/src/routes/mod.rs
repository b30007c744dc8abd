//! The query API under `/v1`, served from the read models: order detail, the buyer's and the
//! seller's order lists, stock per SKU.
//!
//! Every answer carries an ETag (`If-None-Match` gets 304). Read-your-writes: `min_version`
//! (query parameter or `X-Min-Version` header) makes a request wait, at most
//! [`MIN_VERSION_WAIT_MAX_MS`], until the view holds that version of the resource (on a list:
//! of the order named by `order_id`), then 503 with `Retry-After`. Archived orders are answered
//! by the order detail route as any other, and listed with `archived=true`. The server registers [`web::Data<ReadModels>`](crate::ReadModels) and
//! [`web::Data<Authenticator>`] as app data and calls [`configure`].

mod orders;
mod problem;
mod stock;
mod viewer;

use std::future::Future;
use std::time::{Duration, Instant};

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;

pub use orders::OrderPage;
pub use problem::QueryProblem;
pub use viewer::{Authenticator, Viewer, ViewerRole};

use crate::error::ProjectionError;

/// Longest a request waits for its view to reach `min_version`.
pub const MIN_VERSION_WAIT_MAX_MS: u64 = 3_000;
/// How often a waiting request looks at its view again.
const MIN_VERSION_POLL_INTERVAL_MS: u64 = 20;
/// `Retry-After` of a request whose view did not catch up in time.
const VIEW_BEHIND_RETRY_AFTER_SECS: u64 = 1;

/// Registers the query routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(orders::get_order)
        .service(orders::buyer_orders)
        .service(orders::seller_orders)
        .service(stock::get_stock);
}

/// The query API's OpenAPI paths and schemas, merged into the server's document.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        orders::get_order,
        orders::buyer_orders,
        orders::seller_orders,
        stock::get_stock
    ),
    components(schemas(
        QueryProblem,
        OrderPage,
        crate::document::OrderDocument,
        crate::document::OrderItemDocument,
        crate::document::PaymentDocument,
        crate::document::RefundDocument,
        crate::backend::StockRow,
    ))
)]
pub struct QueryApiDoc;

/// The version a request wants to read at least: `?min_version=` or `X-Min-Version`.
fn min_version(req: &HttpRequest, query: Option<u64>) -> Result<Option<u64>, QueryProblem> {
    if query.is_some() {
        return Ok(query);
    }
    let Some(value) = req.headers().get("X-Min-Version") else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .map(Some)
        .ok_or_else(|| QueryProblem::invalid_field("X-Min-Version", "must be a version number"))
}

/// Reads with `read` until it answers a row at `min_version` or later (`version_of`), for at
/// most [`MIN_VERSION_WAIT_MAX_MS`]. Without `min_version`, reads once.
async fn read_at_least<T, F, Fut>(
    min_version: Option<u64>,
    version_of: impl Fn(&T) -> u64,
    mut read: F,
) -> Result<Option<T>, QueryProblem>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>, ProjectionError>>,
{
    let Some(wanted) = min_version else {
        return Ok(read().await?);
    };
    let deadline = Instant::now() + Duration::from_millis(MIN_VERSION_WAIT_MAX_MS);
    loop {
        let row = read().await?;
        if row.as_ref().is_some_and(|row| version_of(row) >= wanted) {
            return Ok(row);
        }
        if Instant::now() >= deadline {
            return Err(QueryProblem::not_caught_up(
                wanted,
                VIEW_BEHIND_RETRY_AFTER_SECS,
            ));
        }
        tokio::time::sleep(Duration::from_millis(MIN_VERSION_POLL_INTERVAL_MS)).await;
    }
}

/// 200 with `body` and `etag`, or 304 when the request's `If-None-Match` names it.
fn tagged<T: Serialize>(req: &HttpRequest, etag: String, body: &T) -> HttpResponse {
    let matches = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|tag| tag.trim() == etag || tag.trim() == "*")
        });
    if matches {
        HttpResponse::NotModified()
            .insert_header((header::ETAG, etag))
            .finish()
    } else {
        HttpResponse::Ok()
            .insert_header((header::ETAG, etag))
            .json(body)
    }
}
