//! Updates of an order by its buyer or seller. Each takes `If-Match: <version>`: a stale
//! version is 412 and changes nothing (check and append are one atomic step: the append is
//! at that version). A buyer or seller acting on someone else's order gets 404.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, post, put, web};
use domain::{BuyerId, OrderId, Quantity, RefundItem, SellerId, TrackingNumber};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::auth::{Principal, Role};
use crate::errors::ToProblem;
use crate::http::{field, idempotency_key, metadata, required_if_match};
use crate::limits::REFUND_ITEMS_MAX;
use crate::problem::Problem;
use crate::services::fulfilment::{Party, Update};
use crate::state::AppState;
use crate::views::order_answer;

fn party(principal: &Principal, role: Role) -> Result<Party, Problem> {
    principal.require(role)?;
    let invalid = |_| Problem::forbidden("the token's subject is not a valid id");
    match role {
        Role::Buyer => Ok(Party::Buyer(
            BuyerId::parse(&principal.subject).map_err(invalid)?,
        )),
        _ => Ok(Party::Seller(
            SellerId::parse(&principal.subject).map_err(invalid)?,
        )),
    }
}

/// Runs `update` on the caller's order at the version in `If-Match`.
async fn update(
    state: &AppState,
    principal: &Principal,
    req: &HttpRequest,
    role: Role,
    order_id: &str,
    update: Update,
) -> Result<HttpResponse, Problem> {
    let party = party(principal, role)?;
    let order_id: OrderId = field("order_id", order_id.parse())?;
    let expected = required_if_match(req)?;
    let key = idempotency_key(req)?;
    let meta = metadata(req, principal, None);
    let executed = state
        .services
        .fulfilment
        .update(&party, order_id, expected, update, key.as_deref(), &meta)
        .await
        .map_err(|err| err.to_problem())?;
    Ok(order_answer(
        StatusCode::OK,
        &executed.aggregate,
        executed.version,
    ))
}

/// A tracking number.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct LogisticsRequest {
    /// The carrier's tracking number: 1 to 64 of `A-Z a-z 0-9 _ . : -`.
    tracking_number: String,
}

/// Shipping, optionally with the tracking number.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct ShipRequest {
    /// The carrier's tracking number, unless it was set before.
    tracking_number: Option<String>,
}

/// Items to refund.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct RefundRequest {
    /// Lines and units to refund, at most 100 lines.
    items: Vec<RefundItemRequest>,
}

/// Units of one line to refund.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct RefundItemRequest {
    /// The order line (`line` in the order).
    line: u32,
    /// Units to refund, 1 to 10 000.
    quantity: u32,
}

/// The buyer cancels an unpaid order; its stock is released.
#[utoipa::path(
    params(("order_id" = String, Path, description = "Order id"), ("If-Match" = String, Header, description = "The order's version")),
    responses(
        (status = 200, description = "Cancelled", body = projections::OrderDocument),
        (status = 404, description = "No such order of the caller", body = Problem),
        (status = 409, description = "Already paid", body = Problem),
        (status = 412, description = "The order changed", body = Problem),
        (status = 428, description = "If-Match missing", body = Problem)
    ),
    security(("bearer" = [])),
    tag = "buyer"
)]
#[post("/v1/orders/{order_id}/cancel")]
pub(crate) async fn cancel(
    state: web::Data<AppState>,
    principal: Principal,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    update(&state, &principal, &req, Role::Buyer, &path, Update::Cancel).await
}

/// The seller sets or changes the tracking number.
#[utoipa::path(
    request_body(content = LogisticsRequest, example = json!({ "tracking_number": "SF1234567" })),
    params(("order_id" = String, Path, description = "Order id"), ("If-Match" = String, Header, description = "The order's version")),
    responses(
        (status = 200, description = "Updated", body = projections::OrderDocument),
        (status = 404, description = "No such order of the caller", body = Problem),
        (status = 409, description = "Not possible in the order's status", body = Problem),
        (status = 412, description = "The order changed", body = Problem),
        (status = 428, description = "If-Match missing", body = Problem)
    ),
    security(("bearer" = [])),
    tag = "seller"
)]
#[put("/v1/orders/{order_id}/logistics")]
pub(crate) async fn logistics(
    state: web::Data<AppState>,
    principal: Principal,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Json<LogisticsRequest>,
) -> Result<HttpResponse, Problem> {
    let tracking_number = field(
        "tracking_number",
        TrackingNumber::parse(&body.tracking_number),
    )?;
    let logistics = Update::Logistics(tracking_number);
    update(&state, &principal, &req, Role::Seller, &path, logistics).await
}

/// The seller ships a paid order.
#[utoipa::path(
    request_body(content = ShipRequest, example = json!({ "tracking_number": "SF1234567" })),
    params(("order_id" = String, Path, description = "Order id"), ("If-Match" = String, Header, description = "The order's version")),
    responses(
        (status = 200, description = "Shipped", body = projections::OrderDocument),
        (status = 404, description = "No such order of the caller", body = Problem),
        (status = 409, description = "Not paid", body = Problem),
        (status = 412, description = "The order changed", body = Problem),
        (status = 428, description = "If-Match missing", body = Problem)
    ),
    security(("bearer" = [])),
    tag = "seller"
)]
#[post("/v1/orders/{order_id}/ship")]
pub(crate) async fn ship(
    state: web::Data<AppState>,
    principal: Principal,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Json<ShipRequest>,
) -> Result<HttpResponse, Problem> {
    let tracking_number = body
        .tracking_number
        .as_deref()
        .map(|number| field("tracking_number", TrackingNumber::parse(number)))
        .transpose()?;
    let ship = Update::Ship(tracking_number);
    update(&state, &principal, &req, Role::Seller, &path, ship).await
}

/// The buyer confirms receipt of a shipped order.
#[utoipa::path(
    params(("order_id" = String, Path, description = "Order id"), ("If-Match" = String, Header, description = "The order's version")),
    responses(
        (status = 200, description = "Completed", body = projections::OrderDocument),
        (status = 404, description = "No such order of the caller", body = Problem),
        (status = 409, description = "Not shipped", body = Problem),
        (status = 412, description = "The order changed", body = Problem),
        (status = 428, description = "If-Match missing", body = Problem)
    ),
    security(("bearer" = [])),
    tag = "buyer"
)]
#[post("/v1/orders/{order_id}/confirm-receipt")]
pub(crate) async fn confirm_receipt(
    state: web::Data<AppState>,
    principal: Principal,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let receipt = Update::ConfirmReceipt;
    update(&state, &principal, &req, Role::Buyer, &path, receipt).await
}

/// The buyer asks for a refund of chosen items: each line returns what was paid for its
/// units, after its share of the discount.
#[utoipa::path(
    request_body(content = RefundRequest, example = json!({ "items": [{ "line": 0, "quantity": 1 }] })),
    params(("order_id" = String, Path, description = "Order id"), ("If-Match" = String, Header, description = "The order's version"), ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe")),
    responses(
        (status = 200, description = "Refund requested", body = projections::OrderDocument),
        (status = 404, description = "No such order of the caller", body = Problem),
        (status = 409, description = "Not refundable now", body = Problem),
        (status = 412, description = "The order changed", body = Problem),
        (status = 422, description = "More units than bought, or an unknown line", body = Problem),
        (status = 428, description = "If-Match missing", body = Problem)
    ),
    security(("bearer" = [])),
    tag = "buyer"
)]
#[post("/v1/orders/{order_id}/refunds")]
pub(crate) async fn request_refund(
    state: web::Data<AppState>,
    principal: Principal,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Json<RefundRequest>,
) -> Result<HttpResponse, Problem> {
    if body.items.len() > REFUND_ITEMS_MAX {
        return Err(Problem::invalid_field(
            "items",
            format!("at most {REFUND_ITEMS_MAX} lines"),
        ));
    }
    let items = body
        .items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            Ok(RefundItem {
                line: item.line,
                quantity: field(
                    &format!("items[{i}].quantity"),
                    Quantity::new(item.quantity),
                )?,
            })
        })
        .collect::<Result<Vec<_>, Problem>>()?;
    let refund = Update::Refund(items);
    update(&state, &principal, &req, Role::Buyer, &path, refund).await
}
