//! The payment provider's success callback.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, post, web};
use chrono::Utc;
use domain::{ConfirmPayment, Money, Order, OrderCommand, OrderId, TxnId};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::auth::{Principal, Role};
use crate::http::{field, metadata};
use crate::problem::Problem;
use crate::state::AppState;
use crate::views::order_answer;
use event_store::execute;

/// A payment the provider received.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct PaymentNotification {
    /// The order paid for (decimal string).
    order_id: String,
    /// The provider's transaction id: the notification's idempotency key.
    txn_id: String,
    /// Amount received, in cents.
    amount_cents: i64,
}

/// Records a payment. The same transaction notified again records nothing and answers with
/// the order; a wrong amount is 422 and records nothing; a payment for a cancelled order is
/// recorded as paid after close (to be refunded).
#[utoipa::path(
    request_body = PaymentNotification,
    responses(
        (status = 200, description = "Recorded (or recorded before)", body = projections::OrderDocument),
        (status = 404, description = "No such order", body = Problem),
        (status = 422, description = "Wrong amount or invalid field", body = Problem)
    ),
    security(("bearer" = [])),
    tag = "payment provider"
)]
#[post("/v1/payments/notify")]
pub(crate) async fn notify(
    state: web::Data<AppState>,
    principal: Principal,
    req: HttpRequest,
    body: web::Json<PaymentNotification>,
) -> Result<HttpResponse, Problem> {
    principal.require(Role::PaymentProvider)?;
    let order_id: OrderId = field("order_id", body.order_id.parse())?;
    let command = ConfirmPayment {
        txn_id: field("txn_id", TxnId::parse(&body.txn_id))?,
        amount: field("amount_cents", Money::from_minor(body.amount_cents))?,
        at: Utc::now(),
    };
    let key = format!("txn:{}", command.txn_id);
    let meta = metadata(&req, &principal, Some(key));
    let executed = execute::<Order, _>(&state.store, &order_id.to_string(), None, &meta, |order| {
        order.decide(OrderCommand::ConfirmPayment(command.clone()))
    })
    .await?;
    Ok(order_answer(
        StatusCode::OK,
        &executed.aggregate,
        executed.version,
    ))
}
