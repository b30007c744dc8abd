//! `POST /v1/simulator/orders/{order_id}/pay`: the buyer "scans and pays" the order's trade at
//! the built-in payment simulator, which then sends its success callback (or, as configured,
//! drops, repeats or delays it). Mounted only when `payment_provider` is `simulator` (the
//! default on loopback): elsewhere any buyer could pay for free.

use actix_web::{HttpResponse, post, web};
use domain::{Order, OrderError, OrderId};

use crate::auth::Principal;
use crate::errors::ToProblem;
use crate::http::field;
use crate::payments::simulator::{PayError, SimulatedPayment};
use crate::problem::{Problem, ProblemType};
use crate::routes::cart::buyer_of;
use crate::state::AppState;

/// Pays the order's trade in full at the simulator. Paying again pays nothing twice. Only
/// when the server runs the simulator (`payment_provider = "simulator"`, the default on a
/// loopback address); otherwise the route does not exist (404).
#[utoipa::path(
    params(("order_id" = String, Path, description = "Order id")),
    responses(
        (status = 200, description = "Paid (or paid before); the callback's fate", body = SimulatedPayment),
        (status = 404, description = "No such order of the caller, or its trade is not open yet", body = Problem),
        (status = 409, description = "The trade is closed", body = Problem)
    ),
    security(("bearer" = [])),
    tag = "payment simulator"
)]
#[post("/v1/simulator/orders/{order_id}/pay")]
pub(crate) async fn pay(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let buyer = buyer_of(&principal)?;
    let order_id: OrderId = field("order_id", path.parse())?;
    let id = order_id.to_string();
    let order = state.store.load::<Order>(&id).await?.aggregate;
    if order.buyer() != Some(&buyer) {
        return Err(OrderError::NotFound.to_problem());
    }
    let Some(simulator) = &state.simulator else {
        return Err(Problem::not_found("route"));
    };
    match simulator.pay(&id) {
        Ok(payment) => Ok(HttpResponse::Ok().json(payment)),
        Err(PayError::NoTrade) => Err(Problem::not_found("trade")
            .detail("the order's trade is not open (yet): try again in a moment")),
        Err(PayError::Closed) => Err(Problem::new(ProblemType::TradeClosed)
            .detail("the order was cancelled or its payment deadline passed")),
    }
}
