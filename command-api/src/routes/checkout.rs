//! `POST /v1/checkout`: a fresh order id for the buyer and a token that allows placing it.

use actix_web::{HttpResponse, post, web};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::Principal;
use crate::problem::Problem;
use crate::routes::cart::buyer_of;
use crate::state::AppState;

/// An order id reserved for the caller and the token to place it with.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CheckoutResponse {
    /// The order id to place (decimal string).
    order_id: String,
    /// Send it back in `POST /v1/orders`.
    checkout_token: String,
    /// The token's expiry.
    expires_at: DateTime<Utc>,
}

/// Issues an order id carrying the buyer's shard gene and a checkout token for it.
#[utoipa::path(
    responses(
        (status = 200, description = "An order id and its checkout token", body = CheckoutResponse),
        (status = 503, description = "Order ids cannot be issued right now", body = Problem)
    ),
    security(("bearer" = [])),
    tag = "buyer"
)]
#[post("/v1/checkout")]
pub(crate) async fn checkout(
    state: web::Data<AppState>,
    principal: Principal,
) -> Result<HttpResponse, Problem> {
    let buyer = buyer_of(&principal)?;
    let order_id = state
        .order_ids
        .next_id(buyer.as_str())
        .await
        .map_err(|err| {
            tracing::warn!(error = %err, "order id refused");
            Problem::busy().detail("order ids cannot be issued right now; retry shortly")
        })?;
    let ttl = i64::try_from(state.settings.checkout_ttl_secs).unwrap_or(i64::MAX);
    let expires_at = state.clock.now() + Duration::seconds(ttl);
    let checkout_token = state
        .checkout
        .issue(order_id, buyer.as_str(), expires_at.timestamp())
        .map_err(|err| Problem::internal(&err))?;
    Ok(HttpResponse::Ok().json(CheckoutResponse {
        order_id: order_id.to_string(),
        checkout_token,
        expires_at,
    }))
}
