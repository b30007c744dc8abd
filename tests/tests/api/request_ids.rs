//! `X-Request-Id`: the client's id when it is sane (1 to 128 visible ASCII characters), a new
//! one otherwise; answered on every response, errors included, and recorded in the metadata
//! of the events the request writes.

use command_api::startup::open_store;
use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{NewProduct, TestApp};

const HEADER: &str = "X-Request-Id";
const LEN_MAX: usize = 128;

/// The `X-Request-Id` of `response`, which every response carries.
fn request_id(response: &Response) -> String {
    let value = response
        .headers()
        .get(HEADER)
        .unwrap_or_else(|| panic!("{} {} has no {HEADER}", response.url(), response.status()));
    value.to_str().unwrap().to_owned()
}

fn is_sane(id: &str) -> bool {
    !id.is_empty() && id.len() <= LEN_MAX && id.bytes().all(|b| b.is_ascii_graphic())
}

/// Request headers: names and raw values.
type Headers<'a> = &'a [(&'a str, &'a [u8])];

/// `method path` with `headers`, no body.
async fn send(app: &TestApp, method: Method, path: &str, headers: Headers<'_>) -> Response {
    let mut request = app.client.request(method, app.url(path));
    for (name, value) in headers {
        request = request.header(*name, value.to_vec());
    }
    request.send().await.unwrap()
}

/// A sane id comes back as it was sent, whatever the answer: a success, a refused token, a
/// route that does not exist, a header the edge refuses.
pub async fn a_sane_request_id_is_answered_as_given_on_success_and_on_error(app: TestApp) {
    let cases: [(Method, &str, Headers<'_>, StatusCode); 4] = [
        (Method::GET, "/healthz", &[], StatusCode::OK),
        (Method::GET, "/v1/cart", &[], StatusCode::UNAUTHORIZED),
        (Method::GET, "/v1/no-such-route", &[], StatusCode::NOT_FOUND),
        (
            Method::GET,
            "/healthz",
            &[("X-Correlation-Id", b"two words")],
            StatusCode::BAD_REQUEST,
        ),
    ];
    let longest = "r".repeat(LEN_MAX);
    for (n, (method, path, headers, status)) in cases.into_iter().enumerate() {
        for given in [format!("client:req-{n}/~!"), longest.clone()] {
            let mut with_id = headers.to_vec();
            with_id.push((HEADER, given.as_bytes()));
            let response = send(&app, method.clone(), path, &with_id).await;
            assert_eq!(response.status(), status, "{method} {path}");
            assert_eq!(request_id(&response), given, "{method} {path} ({status})");
        }
    }
    app.stop().await;
}

/// Without an id, or with one that is not 1 to 128 visible ASCII characters, the server
/// makes one up: a new one for each request, on successes and errors alike.
pub async fn a_missing_or_malformed_request_id_is_replaced_by_a_new_one(app: TestApp) {
    let too_long = "r".repeat(LEN_MAX + 1);
    let malformed: [&[u8]; 4] = [b"", b"two words", b"caf\xc3\xa9", too_long.as_bytes()];
    let mut seen = std::collections::HashSet::new();
    for (path, status) in [
        ("/healthz", StatusCode::OK),
        ("/v1/cart", StatusCode::UNAUTHORIZED),
    ] {
        let response = send(&app, Method::GET, path, &[]).await;
        assert_eq!(response.status(), status);
        let id = request_id(&response);
        assert!(is_sane(&id), "{path}: generated {id:?}");
        assert!(seen.insert(id), "{path}: an id was given twice");
        for given in malformed {
            let response = send(&app, Method::GET, path, &[(HEADER, given)]).await;
            assert_eq!(response.status(), status, "{path} with {given:?}");
            let id = request_id(&response);
            assert!(is_sane(&id), "{path}: {given:?} replaced by {id:?}");
            assert_ne!(id.as_bytes(), given);
            assert!(seen.insert(id), "{path}: an id was given twice");
        }
    }
    app.stop().await;
}

/// The id a placement was sent with is in the metadata of the events it wrote, and, without
/// an `X-Correlation-Id`, is their correlation id too.
pub async fn the_request_id_of_a_placement_is_in_its_events_metadata(app: TestApp) {
    app.create_product(NewProduct {
        sku: "tea",
        price_cents: 100,
        stock: 5,
    })
    .await;
    let (order_id, token) = app.checkout("b-1").await;
    let response = app
        .client
        .post(app.url("/v1/orders"))
        .bearer_auth(app.buyer("b-1"))
        .header(HEADER, "place-7f3a")
        .json(&json!({
            "order_id": order_id,
            "checkout_token": token,
            "items": [{ "sku": "tea", "quantity": 1, "product_version": 1 }],
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(request_id(&response), "place-7f3a");
    let store = open_store(&app.settings).await.unwrap();
    let events = store.read_stream("Order", &order_id).await.unwrap();
    let placed = events
        .iter()
        .find(|e| e.event_type == "OrderPlaced")
        .expect("the order was placed");
    assert_eq!(placed.metadata.request_id.as_deref(), Some("place-7f3a"));
    assert_eq!(
        placed.metadata.correlation_id.as_deref(),
        Some("place-7f3a")
    );
    app.stop().await;
}

/// The document tells clients that every answer carries the header.
pub async fn every_documented_answer_carries_the_request_id(app: TestApp) {
    let doc = app.openapi().await;
    let mut answers = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            for (status, answer) in operation["responses"].as_object().unwrap() {
                answers += 1;
                let header: &Value = &answer["headers"][HEADER];
                assert!(
                    header.is_object(),
                    "{method} {path} {status} does not document {HEADER}"
                );
            }
        }
    }
    assert!(answers > 20, "only {answers} answers documented");
    app.stop().await;
}
