//! `GET /v1/orders/{id}`: an order from its stream (authoritative and always current).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, web};
use domain::{Order, OrderId};

use crate::auth::{Principal, Role};
use crate::http::{field, versioned};
use crate::problem::Problem;
use crate::state::AppState;
use crate::views::OrderView;

/// An order: its buyer and seller see it, operators see every order; anyone else gets 404.
#[utoipa::path(
    params(("order_id" = String, Path, description = "Order id")),
    responses(
        (status = 200, description = "The order (ETag: its version)", body = OrderView),
        (status = 404, description = "No such order of the caller", body = Problem)
    ),
    security(("bearer" = [])),
    tag = "orders"
)]
#[get("/v1/orders/{order_id}")]
pub(crate) async fn get_order(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let order_id: OrderId = field("order_id", path.parse())?;
    let loaded = state.store.load::<Order>(&order_id.to_string()).await?;
    let order = &loaded.aggregate;
    let visible = order.exists()
        && match principal.role {
            Role::Ops => true,
            Role::Buyer => order.buyer().map(|b| b.as_str()) == Some(principal.subject.as_str()),
            Role::Seller => order.seller().map(|s| s.as_str()) == Some(principal.subject.as_str()),
            Role::PaymentProvider => false,
        };
    if !visible {
        return Err(Problem::not_found("order"));
    }
    Ok(versioned(
        StatusCode::OK,
        loaded.version,
        &OrderView::of(order, loaded.version),
    ))
}
