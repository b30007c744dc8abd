//! The payment provider's signed callbacks and production mode, black box: a notification
//! counts only with a valid `Orders-Signature` over its exact body, and a server without a
//! configured simulator has no pay route.

use command_api::auth::Role;
use command_api::payments::signature::SIGNATURE_TOLERANCE_SECS;
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{NewProduct, TestApp, notification};

const SKU: &str = "tea-500g";
const PRICE_CENTS: i64 = 1_299;

/// A placed, unpaid order of one unit: its id.
async fn unpaid_order(app: &TestApp) -> String {
    app.create_product(NewProduct {
        sku: SKU,
        price_cents: PRICE_CENTS,
        stock: 10,
    })
    .await;
    let order = app.order("b-1", &[(SKU, 1, 1)]).await;
    assert_eq!(order["status"], "PendingPayment");
    order["order_id"].as_str().unwrap().to_owned()
}

async fn refused_as_unsigned(response: reqwest::Response, case: &str) {
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{case}");
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["type"], "/problems/bad-signature", "{case}");
}

pub async fn a_notification_without_a_valid_signature_is_refused_and_records_nothing(app: TestApp) {
    let id = unpaid_order(&app).await;
    let body = notification(&id, "T-1", PRICE_CENTS);
    let now = chrono::Utc::now().timestamp();

    // unsigned, even with the bearer token of the payment-provider role that used to suffice
    let unsigned = app
        .client
        .post(app.url("/v1/payments/notify"))
        .bearer_auth(app.token(Role::PaymentProvider, "simulator"))
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    refused_as_unsigned(unsigned, "unsigned").await;

    let wrong_secret =
        command_api::payments::signature::CallbackKey::new("guessed").sign(now, &body);
    let stale = app.sign_callback(&body, now - SIGNATURE_TOLERANCE_SECS - 60);
    let future = app.sign_callback(&body, now + SIGNATURE_TOLERANCE_SECS + 60);
    let for_another_body = app.sign_callback(&notification(&id, "T-1", 1), now);
    for (case, signature) in [
        ("wrong secret", wrong_secret.as_str()),
        ("stale", stale.as_str()),
        ("from the future", future.as_str()),
        ("signed over another body", for_another_body.as_str()),
        ("malformed", "t=now,v1=nothing"),
    ] {
        refused_as_unsigned(app.notify_raw(body.clone(), Some(signature)).await, case).await;
    }

    // nothing was recorded: the order is still unpaid at its first version
    let order: Value = app
        .get_order(&app.buyer("b-1"), &id)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (order["status"].as_str(), order["version"].as_u64()),
        (Some("PendingPayment"), Some(1))
    );

    let signed = app.sign_callback(&body, now);
    let paid = app.notify_raw(body, Some(&signed)).await;
    assert_eq!(paid.status(), StatusCode::OK);
    let paid: Value = paid.json().await.unwrap();
    assert_eq!(
        (paid["status"].as_str(), paid["version"].as_u64()),
        (Some("Paid"), Some(2))
    );
}

pub async fn a_signed_body_that_is_not_a_notification_is_a_bad_request(app: TestApp) {
    let id = unpaid_order(&app).await;
    let now = chrono::Utc::now().timestamp();
    for body in [
        b"{\"order_id\": ".to_vec(),
        format!("{{\"order_id\":\"{id}\"}}").into_bytes(),
    ] {
        let signature = app.sign_callback(&body, now);
        let response = app.notify_raw(body, Some(&signature)).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let problem: Value = response.json().await.unwrap();
        assert_eq!(problem["type"], "/problems/bad-request");
    }
}

/// `payment_provider = "none"`: the pay route answers exactly as a route that never existed,
/// and payments still arrive as signed callbacks.
pub async fn without_the_simulator_configured_its_pay_route_is_absent(app: TestApp) {
    let id = unpaid_order(&app).await;
    let pay = app
        .client
        .post(app.url(&format!("/v1/simulator/orders/{id}/pay")))
        .bearer_auth(app.buyer("b-1"))
        .send()
        .await
        .unwrap();
    let unknown = app
        .client
        .post(app.url(&format!("/v1/no-such-route/orders/{id}/pay")))
        .bearer_auth(app.buyer("b-1"))
        .send()
        .await
        .unwrap();
    assert_eq!(pay.status(), StatusCode::NOT_FOUND);
    assert_eq!(pay.status(), unknown.status());
    assert_eq!(pay.bytes().await.unwrap(), unknown.bytes().await.unwrap());

    let paid = app.notify_payment(&id, "T-1", PRICE_CENTS).await;
    assert_eq!(paid.status(), StatusCode::OK);
}

pub async fn the_openapi_document_says_notifications_are_signed(app: TestApp) {
    let doc = app.openapi().await;
    let notify = &doc["paths"]["/v1/payments/notify"]["post"];
    assert_eq!(
        notify["security"],
        serde_json::json!([{ "callback_signature": [] }])
    );
    assert!(notify["responses"]["401"].is_object(), "{notify}");
    let scheme = &doc["components"]["securitySchemes"]["callback_signature"];
    assert_eq!(
        (
            scheme["type"].as_str(),
            scheme["in"].as_str(),
            scheme["name"].as_str()
        ),
        (Some("apiKey"), Some("header"), Some("Orders-Signature"))
    );
}
