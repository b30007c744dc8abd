//! `POST /v1/simulator/orders/{order_id}/pay`: the buyer "scans and pays" the order's trade at
//! the built-in payment simulator, which then sends its success callback (or, as configured,
//! drops, repeats or delays it). Mounted only when `payment_provider` is `simulator` (the
//! default on loopback): elsewhere any buyer could pay for free.

use actix_web::{HttpResponse, post, web};
use domain::{Order, OrderError, OrderId, OrderStatus};

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
        (status = 404, description = "No such order of the caller, or it is not awaiting payment", body = Problem),
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
    let order = state.stores.load::<Order>(&id).await?.aggregate;
    if order.buyer() != Some(&buyer) {
        return Err(OrderError::NotFound.to_problem());
    }
    let Some(simulator) = &state.simulator else {
        return Err(Problem::not_found("route"));
    };
    let paid = match simulator.pay(&id) {
        Err(PayError::NoTrade) => {
            open_trade(&state, &order).await?;
            simulator.pay(&id)
        }
        paid => paid,
    };
    match paid {
        Ok(payment) => Ok(HttpResponse::Ok().json(payment)),
        Err(PayError::NoTrade) => Err(Problem::not_found("trade")
            .detail("the order has no open trade: it is not awaiting payment")),
        Err(PayError::Closed) => Err(Problem::new(ProblemType::TradeClosed)
            .detail("the order was cancelled or its payment deadline passed")),
    }
}

/// Opens the trade of an order awaiting payment whose `OrderPlaced` the trade reaction has not
/// reached yet (a buyer who pays right after placing is faster than it): as the reaction
/// would, under the trade number recorded with the deadline, so that when it gets there it
/// finds the trade open. An order in any other state gets no trade.
async fn open_trade(state: &AppState, order: &Order) -> Result<(), Problem> {
    let (Some(trades), Some(OrderStatus::PendingPayment), Some(id), Some(due), Some(total)) = (
        &state.trades,
        order.status(),
        order.order_id(),
        order.payment_due_at(),
        order.total(),
    ) else {
        return Ok(());
    };
    trades
        .open(id, due, total)
        .await
        .map_err(|err| Problem::internal(err.as_ref()))
}
