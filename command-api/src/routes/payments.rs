//! The payment provider's success callback, signed with the shared callback secret.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, post, web};
use domain::{Money, OrderId, TxnId};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::auth::{Principal, Role};
use crate::errors::ToProblem;
use crate::http::{field, metadata};
use crate::payments::signature::{SIGNATURE_HEADER, SignatureError};
use crate::problem::{Problem, ProblemType};
use crate::state::AppState;
use crate::views::order_answer;

/// Who a signed callback is recorded as (the actor `payment-provider:callback`): the shared
/// secret names one provider, not a person.
const CALLBACK_SUBJECT: &str = "callback";

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

/// Records a payment. The provider signs each notification (no bearer token): the header
/// `Orders-Signature: t=<unix seconds>,v1=<hex>` carries the HMAC-SHA256, keyed with the
/// shared `payment_callback_secret`, of the timestamp, a dot and the exact body bytes; a
/// missing or wrong signature, or one more than 300 s from the server's clock, is 401 and
/// records nothing. The same transaction notified again records nothing and answers with the
/// order; a transaction that paid another order is 409 and records nothing; a wrong amount is
/// 422 and records nothing; a payment for a cancelled order, or a second one (another
/// transaction) for a paid order, is recorded as paid after close and refunded.
#[utoipa::path(
    request_body(content = PaymentNotification, example = json!({ "order_id": "118224719360049153", "txn_id": "T-1001", "amount_cents": 2598 })),
    params(
        ("Orders-Signature" = String, Header,
         description = "t=<unix seconds>,v1=<hex HMAC-SHA256 of \"<t>.<body>\">, keyed with payment_callback_secret")
    ),
    responses(
        (status = 200, description = "Recorded (or recorded before)", body = projections::OrderDocument),
        (status = 400, description = "The signed body is not a notification", body = Problem),
        (status = 401, description = "Signature missing, wrong, or outside the 300 s tolerance; nothing recorded", body = Problem),
        (status = 404, description = "No such order", body = Problem),
        (status = 409, description = "The transaction paid another order; nothing recorded", body = Problem),
        (status = 422, description = "Wrong amount or invalid field", body = Problem)
    ),
    security(("callback_signature" = [])),
    tag = "payment provider"
)]
#[post("/v1/payments/notify")]
pub(crate) async fn notify(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, Problem> {
    verify_signature(&state, &req, &body)?;
    let body: PaymentNotification =
        serde_json::from_slice(&body).map_err(|err| Problem::bad_request(err.to_string()))?;
    let principal = Principal {
        subject: CALLBACK_SUBJECT.to_owned(),
        role: Role::PaymentProvider,
    };
    let order_id: OrderId = field("order_id", body.order_id.parse())?;
    let txn_id = field("txn_id", TxnId::parse(&body.txn_id))?;
    let amount = field("amount_cents", Money::from_minor(body.amount_cents))?;
    let meta = metadata(&req, &principal, None);
    let executed = (state.services.payment)
        .notify(order_id, txn_id, amount, &meta)
        .await
        .map_err(|err| err.to_problem())?;
    Ok(order_answer(
        StatusCode::OK,
        &executed.aggregate,
        executed.version,
    ))
}

/// The notification's signature over the body as received, checked before anything is read
/// from it.
fn verify_signature(state: &AppState, req: &HttpRequest, body: &[u8]) -> Result<(), Problem> {
    let header = req
        .headers()
        .get(SIGNATURE_HEADER)
        .map(|value| {
            value
                .to_str()
                .map_err(|_| SignatureError::Malformed("not text"))
        })
        .transpose();
    header
        .and_then(|header| {
            state
                .callback_key
                .verify(header, body, state.clock.now().timestamp())
        })
        .map_err(|err| {
            // a forged or replayed callback is the caller's mistake, not the server's
            tracing::debug!(error = %err, "payment notification refused");
            Problem::new(ProblemType::BadSignature).detail(err.to_string())
        })
}
