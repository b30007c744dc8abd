//! `GET /v1/orders/{id}`, `GET /v1/buyers/me/orders`, `GET /v1/sellers/me/orders`.

use actix_web::{HttpRequest, HttpResponse, get, web};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::{IntoParams, ToSchema};

use projections::document::{ORDER_STATUSES, OrderDocument};
use projections::read_models::{Cursor, ORDER_PAGE_SIZE_MAX, Owner, ReadModels, Shelf};

use super::{min_version, read_at_least};
use crate::auth::{Principal, Role};
use crate::http::{etag, tagged};
use crate::known_ids::{KnownIds, ORDER};
use crate::problem::Problem;

/// Orders per page when the request does not say.
const ORDER_PAGE_SIZE_DEFAULT: u32 = 20;

/// Parameters of `GET /v1/orders/{id}`.
#[derive(Debug, Deserialize, IntoParams)]
pub(crate) struct DetailQuery {
    /// Wait (bounded) until the view holds at least this version of the order; the version
    /// a command answered with. Also `X-Min-Version`.
    min_version: Option<u64>,
}

/// An order from the order detail view, or from the archive once it is archived: its buyer and
/// seller see it, operators see every order; anyone else gets 404.
#[utoipa::path(
    params(("order_id" = String, Path, description = "Order id"), DetailQuery),
    responses(
        (status = 200, description = "The order (ETag: its version)", body = OrderDocument),
        (status = 304, description = "Not modified since the ETag in If-None-Match"),
        (status = 404, description = "No such order of the caller", body = Problem),
        (status = 503, description = "The view did not reach min_version in time (Retry-After)", body = Problem)
    ),
    security(("bearer" = [])),
    tag = "queries"
)]
#[get("/v1/orders/{order_id}")]
pub(crate) async fn get_order(
    req: HttpRequest,
    models: web::Data<ReadModels>,
    known: web::Data<KnownIds>,
    caller: Principal,
    path: web::Path<String>,
    query: web::Query<DetailQuery>,
) -> Result<HttpResponse, Problem> {
    let order_id: domain::OrderId = path
        .parse()
        .map_err(|e: domain::IdError| Problem::invalid_field("order_id", e.to_string()))?;
    let id = order_id.to_string();
    let wanted = min_version(&req, query.min_version)?;
    // an order the caller may not see is absent, waited for like one not yet applied: the
    // answer never tells which ids exist, nor their versions. An id the log does not know is
    // absent without a read (waited for too: another node may have just written it), so
    // its answer is quicker than a read's (ADR 39 says why that is accepted)
    let stored = read_at_least(
        wanted,
        |o: &projections::StoredOrder| o.version,
        || async {
            if !known.may_exist(ORDER, &id) {
                return Ok(None);
            }
            Ok(models
                .order(&id)
                .await?
                .filter(|o| caller.may_see(&o.document.buyer_id, &o.document.seller_id)))
        },
    )
    .await?
    .ok_or_else(|| Problem::not_found("order"))?;
    Ok(tagged(&req, etag(stored.version), &stored.document))
}

/// Parameters of the order lists.
#[derive(Debug, Deserialize, IntoParams)]
pub(crate) struct ListQuery {
    /// Only orders in this status (`PendingPayment`, `Paid`, `Shipped`, `Completed`,
    /// `Cancelled`, `Refunding`, `Refunded`).
    #[param(schema_with = projections::document::order_status_schema)]
    status: Option<String>,
    /// `next_cursor` of the previous page; omitted for the first page.
    cursor: Option<String>,
    /// Orders per page, 1 to 100 (default 20).
    limit: Option<u32>,
    /// `true` lists the archive: settled orders (`Completed`, `Cancelled`, `Refunded`) whose
    /// last change is older than the archive threshold (90 days by default) leave the list
    /// for the archive, newest first and paged the same way. Default `false`. Any archived
    /// order is still answered by `GET /v1/orders/{order_id}`.
    archived: Option<bool>,
    /// With `min_version`: the order (one of the caller's) whose write the list must reflect.
    order_id: Option<String>,
    /// Read-your-writes for a list: wait (bounded) until the read side holds at least this
    /// version of `order_id` (the version a command answered with; also `X-Min-Version`),
    /// then answer the page. The order views apply the log in order, so the page then
    /// reflects that write and every write before it. Needs `order_id`.
    min_version: Option<u64>,
}

/// One page of orders, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct OrderPage {
    /// The orders.
    orders: Vec<OrderDocument>,
    /// Pass as `cursor` for the next page; absent on the last page. Pages are stable: an
    /// order placed meanwhile appears on the first page, never shifts later pages.
    next_cursor: Option<String>,
}

/// The caller's orders as a buyer, newest first.
#[utoipa::path(
    params(ListQuery),
    responses(
        (status = 200, description = "A page of the buyer's orders (weak ETag of the page)", body = OrderPage),
        (status = 304, description = "Not modified since the ETag in If-None-Match"),
        (status = 403, description = "The caller is not a buyer", body = Problem),
        (status = 422, description = "Bad status, cursor, limit, order_id, or min_version without order_id", body = Problem),
        (status = 503, description = "The list did not reach min_version of order_id in time (Retry-After)", body = Problem)
    ),
    security(("bearer" = [])),
    tag = "queries"
)]
#[get("/v1/buyers/me/orders")]
pub(crate) async fn buyer_orders(
    req: HttpRequest,
    models: web::Data<ReadModels>,
    caller: Principal,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, Problem> {
    if caller.role != Role::Buyer {
        return Err(Problem::forbidden("this list is a buyer's"));
    }
    list(&req, &models, Owner::Buyer(&caller.subject), &query).await
}

/// The caller's orders as a seller, newest first.
#[utoipa::path(
    params(ListQuery),
    responses(
        (status = 200, description = "A page of the seller's orders (weak ETag of the page)", body = OrderPage),
        (status = 304, description = "Not modified since the ETag in If-None-Match"),
        (status = 403, description = "The caller is not a seller", body = Problem),
        (status = 422, description = "Bad status, cursor, limit, order_id, or min_version without order_id", body = Problem),
        (status = 503, description = "The list did not reach min_version of order_id in time (Retry-After)", body = Problem)
    ),
    security(("bearer" = [])),
    tag = "queries"
)]
#[get("/v1/sellers/me/orders")]
pub(crate) async fn seller_orders(
    req: HttpRequest,
    models: web::Data<ReadModels>,
    caller: Principal,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, Problem> {
    if caller.role != Role::Seller {
        return Err(Problem::forbidden("this list is a seller's"));
    }
    list(&req, &models, Owner::Seller(&caller.subject), &query).await
}

async fn list(
    req: &HttpRequest,
    models: &ReadModels,
    owner: Owner<'_>,
    query: &ListQuery,
) -> Result<HttpResponse, Problem> {
    let status = match query.status.as_deref() {
        None => None,
        Some(s) => Some(
            ORDER_STATUSES
                .iter()
                .find(|status| status.as_str() == s)
                .ok_or_else(|| Problem::invalid_field("status", "not an order status"))?
                .as_str(),
        ),
    };
    let cursor = match query.cursor.as_deref() {
        None => None,
        Some(text) => Some(
            Cursor::decode(text)
                .filter(|cursor| cursor.order_id.parse::<domain::OrderId>().is_ok())
                .ok_or_else(|| Problem::invalid_field("cursor", "not a cursor"))?,
        ),
    };
    let limit = query.limit.unwrap_or(ORDER_PAGE_SIZE_DEFAULT);
    if !(1..=ORDER_PAGE_SIZE_MAX).contains(&limit) {
        return Err(Problem::invalid_field(
            "limit",
            format!("must be 1 to {ORDER_PAGE_SIZE_MAX}"),
        ));
    }
    let wanted = min_version(req, query.min_version)?;
    match (wanted, query.order_id.as_deref()) {
        (None, None) => {}
        (Some(_), None) => {
            return Err(Problem::invalid_field(
                "order_id",
                "min_version on a list needs the order_id it is a version of",
            ));
        }
        (None, Some(_)) => {
            return Err(Problem::invalid_field(
                "min_version",
                "order_id on a list only goes with min_version",
            ));
        }
        (Some(version), Some(id)) => {
            let id: domain::OrderId = id
                .parse()
                .map_err(|e: domain::IdError| Problem::invalid_field("order_id", e.to_string()))?;
            let id = id.to_string();
            read_at_least(
                Some(version),
                |v: &u64| *v,
                || models.listed_version(owner, &id),
            )
            .await?;
        }
    }
    let shelf = if query.archived.unwrap_or(false) {
        Shelf::Archive
    } else {
        Shelf::Hot
    };
    let rows = models
        .orders(owner, shelf, status, cursor.as_ref(), limit)
        .await?;
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
