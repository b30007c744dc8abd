//! `GET /v1/orders/{id}`, `GET /v1/buyers/me/orders`, `GET /v1/sellers/me/orders`.

use actix_web::{HttpRequest, HttpResponse, get, web};
use domain::OrderStatus;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::{IntoParams, ToSchema};

use super::{QueryProblem, Viewer, ViewerRole, min_version, read_at_least, tagged};
use crate::document::OrderDocument;
use crate::read_models::{Cursor, ORDER_PAGE_SIZE_MAX, Owner, ReadModels};

/// Orders per page when the request does not say.
const ORDER_PAGE_SIZE_DEFAULT: u32 = 20;

const STATUSES: [OrderStatus; 7] = [
    OrderStatus::PendingPayment,
    OrderStatus::Paid,
    OrderStatus::Shipped,
    OrderStatus::Completed,
    OrderStatus::Cancelled,
    OrderStatus::Refunding,
    OrderStatus::Refunded,
];

/// Parameters of `GET /v1/orders/{id}`.
#[derive(Debug, Deserialize, IntoParams)]
pub(crate) struct DetailQuery {
    /// Wait (bounded) until the view holds at least this version of the order; the version
    /// a command answered with. Also `X-Min-Version`.
    min_version: Option<u64>,
}

/// An order from the order detail view: its buyer and seller see it, operators see every
/// order; anyone else gets 404.
#[utoipa::path(
    params(("order_id" = String, Path, description = "Order id"), DetailQuery),
    responses(
        (status = 200, description = "The order (ETag: its version)", body = OrderDocument),
        (status = 304, description = "Not modified since the ETag in If-None-Match"),
        (status = 404, description = "No such order of the caller", body = QueryProblem),
        (status = 503, description = "The view did not reach min_version in time (Retry-After)", body = QueryProblem)
    ),
    security(("bearer" = [])),
    tag = "queries"
)]
#[get("/v1/orders/{order_id}")]
pub(crate) async fn get_order(
    req: HttpRequest,
    models: web::Data<ReadModels>,
    viewer: Viewer,
    path: web::Path<String>,
    query: web::Query<DetailQuery>,
) -> Result<HttpResponse, QueryProblem> {
    let order_id: domain::OrderId = path
        .parse()
        .map_err(|e: domain::IdError| QueryProblem::invalid_field("order_id", e.to_string()))?;
    let id = order_id.to_string();
    let wanted = min_version(&req, query.min_version)?;
    let stored = read_at_least(
        wanted,
        |o: &crate::StoredOrder| o.version,
        || models.order(&id),
    )
    .await?
    .filter(|o| viewer.may_see(&o.document.buyer_id, &o.document.seller_id))
    .ok_or_else(|| QueryProblem::not_found("order"))?;
    Ok(tagged(
        &req,
        format!("\"{}\"", stored.version),
        &stored.document,
    ))
}

/// Parameters of the order lists.
#[derive(Debug, Deserialize, IntoParams)]
pub(crate) struct ListQuery {
    /// Only orders in this status (`PendingPayment`, `Paid`, `Shipped`, `Completed`,
    /// `Cancelled`, `Refunding`, `Refunded`).
    status: Option<String>,
    /// `next_cursor` of the previous page; omitted for the first page.
    cursor: Option<String>,
    /// Orders per page, 1 to 100 (default 20).
    limit: Option<u32>,
}

/// One page of orders, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrderPage {
    /// The orders.
    pub orders: Vec<OrderDocument>,
    /// Pass as `cursor` for the next page; absent on the last page. Pages are stable: an
    /// order placed meanwhile appears on the first page, never shifts later pages.
    pub next_cursor: Option<String>,
}

/// The caller's orders as a buyer, newest first.
#[utoipa::path(
    params(ListQuery),
    responses(
        (status = 200, description = "A page of the buyer's orders (weak ETag of the page)", body = OrderPage),
        (status = 403, description = "The caller is not a buyer", body = QueryProblem),
        (status = 422, description = "Bad status, cursor or limit", body = QueryProblem)
    ),
    security(("bearer" = [])),
    tag = "queries"
)]
#[get("/v1/buyers/me/orders")]
pub(crate) async fn buyer_orders(
    req: HttpRequest,
    models: web::Data<ReadModels>,
    viewer: Viewer,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, QueryProblem> {
    if viewer.role != ViewerRole::Buyer {
        return Err(QueryProblem::forbidden("this list is a buyer's"));
    }
    list(&req, &models, Owner::Buyer(&viewer.subject), &query).await
}

/// The caller's orders as a seller, newest first.
#[utoipa::path(
    params(ListQuery),
    responses(
        (status = 200, description = "A page of the seller's orders (weak ETag of the page)", body = OrderPage),
        (status = 403, description = "The caller is not a seller", body = QueryProblem),
        (status = 422, description = "Bad status, cursor or limit", body = QueryProblem)
    ),
    security(("bearer" = [])),
    tag = "queries"
)]
#[get("/v1/sellers/me/orders")]
pub(crate) async fn seller_orders(
    req: HttpRequest,
    models: web::Data<ReadModels>,
    viewer: Viewer,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, QueryProblem> {
    if viewer.role != ViewerRole::Seller {
        return Err(QueryProblem::forbidden("this list is a seller's"));
    }
    list(&req, &models, Owner::Seller(&viewer.subject), &query).await
}

async fn list(
    req: &HttpRequest,
    models: &ReadModels,
    owner: Owner<'_>,
    query: &ListQuery,
) -> Result<HttpResponse, QueryProblem> {
    let status = match query.status.as_deref() {
        None => None,
        Some(s) => Some(
            STATUSES
                .iter()
                .find(|status| status.as_str() == s)
                .ok_or_else(|| QueryProblem::invalid_field("status", "not an order status"))?
                .as_str(),
        ),
    };
    let cursor = match query.cursor.as_deref() {
        None => None,
        Some(text) => Some(
            Cursor::decode(text)
                .ok_or_else(|| QueryProblem::invalid_field("cursor", "not a cursor"))?,
        ),
    };
    let limit = query.limit.unwrap_or(ORDER_PAGE_SIZE_DEFAULT);
    if !(1..=ORDER_PAGE_SIZE_MAX).contains(&limit) {
        return Err(QueryProblem::invalid_field(
            "limit",
            format!("must be 1 to {ORDER_PAGE_SIZE_MAX}"),
        ));
    }
    let rows = models.orders(owner, status, cursor.as_ref(), limit).await?;
    let next_cursor = (rows.len() == limit as usize)
        .then(|| rows.last())
        .flatten()
        .map(|last| {
            Cursor {
                placed_at_us: last.placed_at_us,
                order_id: last.document.order_id.clone(),
            }
            .encode()
        });
    let mut digest = Sha256::new();
    for row in &rows {
        digest.update(row.content_hash.as_bytes());
    }
    let etag = format!("W/\"{}\"", hex::encode(digest.finalize()));
    let page = OrderPage {
        orders: rows.into_iter().map(|row| row.document).collect(),
        next_cursor,
    };
    Ok(tagged(req, etag, &page))
}
