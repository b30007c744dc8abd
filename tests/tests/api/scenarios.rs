//! The scenarios, each against whatever store the app was spawned on.

use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{NewProduct, TestApp, etag, etag_version, eventually};
pub use crate::ops::the_status_shows_each_follower_caught_up_and_held;

const TEA: NewProduct<'static> = NewProduct {
    sku: "tea-500g",
    price_cents: 1299,
    stock: 100,
};

const MILK: NewProduct<'static> = NewProduct {
    sku: "milk-1l",
    price_cents: 199,
    stock: 10,
};

pub async fn concurrent_identical_placements_make_one_order(app: TestApp) {
    app.create_product(TEA).await;
    let (order_id, token) = app.checkout("b-1").await;
    let responses =
        join_all((0..50).map(|_| app.place_order("b-1", &order_id, &token, &[("tea-500g", 2, 1)])))
            .await;
    let mut bodies = Vec::new();
    for response in responses {
        assert!(response.status().is_success(), "{}", response.status());
        bodies.push(response.text().await.unwrap());
    }
    assert!(bodies.iter().all(|b| b == &bodies[0]), "bodies differ");
    let stock = app.stock_when("tea-500g", |s| s["reserved"] == 2).await;
    assert_eq!(
        (stock["available"].as_u64(), stock["reserved"].as_u64()),
        (Some(98), Some(2))
    );
    let order: Value = serde_json::from_str(&bodies[0]).unwrap();
    assert_eq!(order["version"], 1, "one OrderPlaced event");
}

/// The seeds' ABA case: the logistics number goes 666 then 888; the 666 request retried with
/// its old version must not win.
pub async fn a_retried_stale_update_cannot_overwrite_a_newer_one(app: TestApp) {
    app.create_product(TEA).await;
    let order = app.order("b-1", &[("tea-500g", 1, 1)]).await;
    let id = order["order_id"].as_str().unwrap();
    let paid = app.notify_payment(id, "T-1", 1299).await;
    let v_paid = etag(&paid);

    let first = app.set_logistics(id, &v_paid, "666").await;
    assert_eq!(first.status(), StatusCode::OK);
    let second = app.set_logistics(id, &etag(&first), "888").await;
    assert_eq!(second.status(), StatusCode::OK);
    let retried = app.set_logistics(id, &v_paid, "666").await;
    assert_eq!(retried.status(), StatusCode::PRECONDITION_FAILED);
    let problem: Value = retried.json().await.unwrap();
    assert_eq!(problem["type"], "/problems/version-mismatch");

    let now = app
        .get_order_at(&app.seller(), id, etag_version(&second))
        .await;
    let now: Value = now.json().await.unwrap();
    assert_eq!(now["tracking_number"], "888");
    let missing = app
        .client
        .put(app.url(&format!("/v1/orders/{id}/logistics")))
        .bearer_auth(app.seller())
        .json(&json!({ "tracking_number": "999" }))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::PRECONDITION_REQUIRED);
}

pub async fn many_buyers_on_scarce_stock_never_oversell(app: TestApp) {
    const BUYERS: usize = 200;
    const STOCK: u32 = 50;
    app.create_product(NewProduct {
        sku: "hot",
        price_cents: 100,
        stock: STOCK,
    })
    .await;
    let app = &app;
    let checkouts = join_all((0..BUYERS).map(|i| async move {
        let buyer = format!("b-{i}");
        let (order_id, token) = app.checkout(&buyer).await;
        (buyer, order_id, token)
    }))
    .await;
    let responses =
        join_all(checkouts.iter().map(|(buyer, order_id, token)| {
            app.place_order(buyer, order_id, token, &[("hot", 1, 1)])
        }))
        .await;
    let mut placed = 0;
    for response in responses {
        match response.status() {
            StatusCode::CREATED => placed += 1,
            StatusCode::CONFLICT => {
                let problem: Value = response.json().await.unwrap();
                assert_eq!(problem["type"], "/problems/out-of-stock");
            }
            other => panic!("unexpected {other}: {}", response.text().await.unwrap()),
        }
    }
    assert_eq!(placed, STOCK as usize);
    let stock = app
        .stock_when("hot", |s| s["reserved"] == u64::from(STOCK))
        .await;
    assert_eq!(stock["available"], 0);
    assert_eq!(stock["reserved"], u64::from(STOCK));
}

pub async fn a_stale_product_version_is_refused_and_reserves_nothing(app: TestApp) {
    app.create_product(TEA).await;
    let changed = app.change_price("tea-500g", 1499).await;
    assert_eq!(changed.status(), StatusCode::OK);
    let (order_id, token) = app.checkout("b-1").await;
    let stale = app
        .place_order("b-1", &order_id, &token, &[("tea-500g", 1, 1)])
        .await;
    assert_eq!(stale.status(), StatusCode::CONFLICT);
    let problem: Value = stale.json().await.unwrap();
    assert_eq!(problem["type"], "/problems/product-changed");
    assert_eq!(problem["field"], "items[0].product_version");
    let stock = app.stock_when("tea-500g", |_| true).await;
    assert_eq!(
        (stock["available"].as_u64(), stock["reserved"].as_u64()),
        (Some(100), Some(0))
    );

    // with the current version the same checkout goes through, at the new price
    let fresh = app
        .place_order("b-1", &order_id, &token, &[("tea-500g", 1, 2)])
        .await;
    assert_eq!(fresh.status(), StatusCode::CREATED);
    let order: Value = fresh.json().await.unwrap();
    assert_eq!(order["total_cents"], 1499);
}

pub async fn the_same_payment_notified_three_times_is_recorded_once(app: TestApp) {
    app.create_product(TEA).await;
    let order = app.order("b-1", &[("tea-500g", 3, 1)]).await;
    let id = order["order_id"].as_str().unwrap();
    let mut versions = Vec::new();
    for _ in 0..3 {
        let response = app.notify_payment(id, "T-77", 3897).await;
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["status"], "Paid");
        assert_eq!(body["payment"]["txn_id"], "T-77");
        versions.push(body["version"].as_u64().unwrap());
    }
    assert_eq!(versions, [2, 2, 2], "one PaymentConfirmed");
    // a second payment by another transaction is the buyer's money: recorded and refunded
    let second = app.notify_payment(id, "T-78", 1).await;
    assert_eq!(second.status(), StatusCode::OK, "paid again by T-78");
    let body: Value = second.json().await.unwrap();
    assert_eq!(
        (
            &body["status"],
            &body["payment"]["txn_id"],
            &body["version"]
        ),
        (&json!("Paid"), &json!("T-77"), &json!(3))
    );
    let refunded = eventually(|| async {
        let order: Value = app
            .get_order(&app.buyer("b-1"), id)
            .await
            .json()
            .await
            .unwrap();
        let refund = &order["refunds"][0];
        (!refund["completed_at"].is_null()).then(|| order.clone())
    })
    .await;
    assert_eq!(
        (
            &refunded["refunds"][0]["kind"],
            &refunded["refunds"][0]["amount_cents"],
            &refunded["after_close_owed_cents"],
            &refunded["status"]
        ),
        (
            &json!("paid_after_close"),
            &json!(1),
            &json!(0),
            &json!("Paid")
        )
    );
    // the reaction deducts the reserved stock once
    eventually(|| async {
        let stock = app.stock_when("tea-500g", |_| true).await;
        (stock["sold"] == 3 && stock["reserved"] == 0 && stock["available"] == 97).then_some(())
    })
    .await;
}

pub async fn the_cart_is_cleared_after_the_order_is_placed(app: TestApp) {
    app.create_product(TEA).await;
    let added = app
        .client
        .put(app.url("/v1/cart/items/tea-500g"))
        .bearer_auth(app.buyer("b-1"))
        .json(&json!({ "quantity": 2 }))
        .send()
        .await
        .unwrap();
    assert_eq!(added.status(), StatusCode::OK);
    assert_eq!(app.cart("b-1").await["items"].as_array().unwrap().len(), 1);
    app.order("b-1", &[("tea-500g", 2, 1)]).await;
    eventually(|| async {
        let cart = app.cart("b-1").await;
        cart["items"].as_array().unwrap().is_empty().then_some(())
    })
    .await;
}

pub async fn a_buyer_cannot_see_or_touch_another_buyers_order(app: TestApp) {
    app.create_product(TEA).await;
    let order = app.order("b-1", &[("tea-500g", 1, 1)]).await;
    let id = order["order_id"].as_str().unwrap();
    // once the view holds the order (b-1 reads it at its version), it is still not b-2's to see
    let own = app.get_order_at(&app.buyer("b-1"), id, 1).await;
    assert_eq!(own.status(), StatusCode::OK);
    let seen = app.get_order(&app.buyer("b-2"), id).await;
    assert_eq!(seen.status(), StatusCode::NOT_FOUND);
    let cancel = app.cancel_order("b-2", id, 1).await;
    assert_eq!(cancel.status(), StatusCode::NOT_FOUND);
    let stale = app.cancel_order("b-2", id, 7).await;
    assert_eq!(
        stale.status(),
        StatusCode::NOT_FOUND,
        "a stale version reveals nothing"
    );
    let own = app.get_order_at(&app.buyer("b-1"), id, 1).await;
    assert_eq!(own.status(), StatusCode::OK);
    assert_eq!(etag(&own), "\"1\"");
}

pub async fn a_forged_or_expired_checkout_token_is_forbidden(app: TestApp) {
    app.create_product(TEA).await;
    let (order_id, token) = app.checkout("b-1").await;
    // another buyer's token for this id, a forged token, and a token for another id
    let (other_id, other_token) = app.checkout("b-2").await;
    for (buyer, id, token) in [
        ("b-2", order_id.as_str(), token.as_str()),
        (
            "b-1",
            order_id.as_str(),
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJiLTEifQ.Zm9yZ2Vk",
        ),
        ("b-1", order_id.as_str(), other_token.as_str()),
        ("b-2", other_id.as_str(), token.as_str()),
    ] {
        let response = app
            .place_order(buyer, id, token, &[("tea-500g", 1, 1)])
            .await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{buyer} {id}");
    }
    let expired_token = command_api::checkout_token::CheckoutTokens::new(&app.secret)
        .issue(
            order_id.parse().unwrap(),
            "b-1",
            chrono::Utc::now().timestamp() - 10,
        )
        .unwrap();
    let expired = app
        .place_order("b-1", &order_id, &expired_token, &[("tea-500g", 1, 1)])
        .await;
    assert_eq!(expired.status(), StatusCode::FORBIDDEN);
    let unauthenticated = app
        .client
        .post(app.url("/v1/checkout"))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthenticated.status(), StatusCode::UNAUTHORIZED);
    let stock = app.stock_when("tea-500g", |_| true).await;
    assert_eq!(stock["reserved"], 0);
}

pub async fn client_mistakes_are_4xx_problems_naming_the_field(app: TestApp) {
    app.create_product(TEA).await;
    let (order_id, token) = app.checkout("b-1").await;
    let post = |body: String| {
        app.client
            .post(app.url("/v1/orders"))
            .bearer_auth(app.buyer("b-1"))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let malformed = post("{\"order_id\": ".to_owned()).await.unwrap();
    assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        malformed.headers()["content-type"],
        "application/problem+json"
    );
    let cases = [
        (
            json!([{ "sku": "tea-500g", "quantity": 0, "product_version": 1 }]),
            "items[0].quantity",
        ),
        (
            json!([{ "sku": "tea 500g", "quantity": 1, "product_version": 1 }]),
            "items[0].sku",
        ),
        (
            json!([{ "sku": "nope", "quantity": 1, "product_version": 1 }]),
            "items[0].sku",
        ),
        (json!([]), "items"),
    ];
    for (items, field) in cases {
        let body = json!({ "order_id": order_id, "checkout_token": token, "items": items });
        let response = post(body.to_string()).await.unwrap();
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{field}"
        );
        let problem: Value = response.json().await.unwrap();
        assert_eq!(problem["field"], field);
    }
    let bad_id = json!({ "order_id": "12x", "checkout_token": token, "items": [] });
    let response = post(bad_id.to_string()).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let wrong_amount = app.notify_payment(&order_id, "T-1", 5).await;
    assert_eq!(
        wrong_amount.status(),
        StatusCode::NOT_FOUND,
        "nothing was placed"
    );
    // nothing was written by any of it
    let order = app.get_order(&app.buyer("b-1"), &order_id).await;
    assert_eq!(order.status(), StatusCode::NOT_FOUND);
    assert_eq!(app.stock_when("tea-500g", |_| true).await["reserved"], 0);
}

pub async fn a_paid_order_ships_and_completes_and_refunds_what_was_paid(app: TestApp) {
    app.create_product(TEA).await;
    let order = app.order("b-1", &[("tea-500g", 2, 1)]).await;
    let id = order["order_id"].as_str().unwrap();
    let wrong = app.notify_payment(id, "T-1", 100).await;
    assert_eq!(wrong.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let paid = app.notify_payment(id, "T-1", 2598).await;
    let shipped = app
        .client
        .post(app.url(&format!("/v1/orders/{id}/ship")))
        .bearer_auth(app.seller())
        .header("If-Match", etag(&paid))
        .json(&json!({ "tracking_number": "SF123" }))
        .send()
        .await
        .unwrap();
    assert_eq!(shipped.status(), StatusCode::OK);
    let received = app
        .client
        .post(app.url(&format!("/v1/orders/{id}/confirm-receipt")))
        .bearer_auth(app.buyer("b-1"))
        .header("If-Match", etag(&shipped))
        .send()
        .await
        .unwrap();
    assert_eq!(received.status(), StatusCode::OK);
    let refund = app
        .client
        .post(app.url(&format!("/v1/orders/{id}/refunds")))
        .bearer_auth(app.buyer("b-1"))
        .header("If-Match", etag(&received))
        .json(&json!({ "items": [{ "line": 0, "quantity": 1 }] }))
        .send()
        .await
        .unwrap();
    assert_eq!(refund.status(), StatusCode::OK);
    let body: Value = refund.json().await.unwrap();
    assert_eq!(body["status"], "Refunding");
    assert_eq!(body["refunds"][0]["amount_cents"], 1299);
    let too_many = app
        .client
        .post(app.url(&format!("/v1/orders/{id}/refunds")))
        .bearer_auth(app.buyer("b-1"))
        .header("If-Match", format!("\"{}\"", body["version"]))
        .json(&json!({ "items": [{ "line": 0, "quantity": 2 }] }))
        .send()
        .await
        .unwrap();
    assert_eq!(too_many.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

pub async fn the_openapi_document_covers_every_route(app: TestApp) {
    let doc = app.openapi().await;
    let paths = doc["paths"].as_object().unwrap();
    for path in [
        "/v1/products",
        "/v1/products/{sku}/price",
        "/v1/skus/{sku}/stock",
        "/v1/cart/items/{sku}",
        "/v1/checkout",
        "/v1/orders",
        "/v1/orders/{order_id}",
        "/v1/orders/{order_id}/cancel",
        "/v1/orders/{order_id}/logistics",
        "/v1/orders/{order_id}/ship",
        "/v1/orders/{order_id}/confirm-receipt",
        "/v1/orders/{order_id}/refunds",
        "/v1/payments/notify",
        "/v1/buyers/me/orders",
        "/v1/sellers/me/orders",
        "/healthz",
        "/metrics",
    ] {
        assert!(paths.contains_key(path), "{path} is missing");
    }
    let ui = app.client.get(app.url("/swagger-ui")).send().await.unwrap();
    assert_eq!(ui.status(), StatusCode::OK);
}

pub async fn the_same_order_id_with_other_content_is_a_conflict(app: TestApp) {
    app.create_product(TEA).await;
    let (order_id, token) = app.checkout("b-1").await;
    let first = app
        .place_order("b-1", &order_id, &token, &[("tea-500g", 2, 1)])
        .await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let first: Value = first.json().await.unwrap();
    let other = app
        .place_order("b-1", &order_id, &token, &[("tea-500g", 5, 1)])
        .await;
    assert_eq!(other.status(), StatusCode::CONFLICT);
    let problem: Value = other.json().await.unwrap();
    assert_eq!(problem["type"], "/problems/order-conflict");
    let same = app
        .place_order("b-1", &order_id, &token, &[("tea-500g", 2, 1)])
        .await;
    assert_eq!(same.status(), StatusCode::OK);
    assert_eq!(same.json::<Value>().await.unwrap(), first);
    let stock = app.stock_when("tea-500g", |s| s["reserved"] == 2).await;
    assert_eq!(
        (stock["available"].as_u64(), stock["reserved"].as_u64()),
        (Some(98), Some(2))
    );
}

pub async fn cancelling_an_unpaid_order_releases_its_stock(app: TestApp) {
    app.create_product(TEA).await;
    let order = app.order("b-1", &[("tea-500g", 4, 1)]).await;
    let id = order["order_id"].as_str().unwrap();
    let cancelled = app.cancel_order("b-1", id, 1).await;
    assert_eq!(cancelled.status(), StatusCode::OK);
    let body: Value = cancelled.json().await.unwrap();
    assert_eq!(body["status"], "Cancelled");
    eventually(|| async {
        let stock = app.stock_when("tea-500g", |_| true).await;
        (stock["available"] == 100 && stock["reserved"] == 0).then_some(())
    })
    .await;
    // a payment arriving after the cancellation is recorded as paid after close, not as paid
    let late = app.notify_payment(id, "T-late", 5196).await;
    assert_eq!(late.status(), StatusCode::OK);
    let late: Value = late.json().await.unwrap();
    assert_eq!(late["status"], "Cancelled");
}

/// Places an order through a node of its own, started for it and stopped after it: a node
/// that has seen nothing of the order.
async fn place_on_a_new_node(
    app: &TestApp,
    buyer: &str,
    order_id: &str,
    token: &str,
    items: &[(&str, u32, u32)],
) -> reqwest::Response {
    let node = app.another_node().await;
    let response = node.place_order(buyer, order_id, token, items).await;
    node.stop().await;
    response
}

/// A node that has not seen an order id yet presumes its stream is new and learns otherwise
/// from its write: whatever it asks for, the first placement decides the id's stock.
pub async fn a_placement_repeated_on_another_node_changes_no_stock(app: TestApp) {
    app.create_product(TEA).await;
    app.create_product(MILK).await;

    let (order_id, token) = app.checkout("b-1").await;
    let placed = app
        .place_order("b-1", &order_id, &token, &[("tea-500g", 2, 1)])
        .await;
    assert_eq!(placed.status(), StatusCode::CREATED);
    let placed: Value = placed.json().await.unwrap();

    let same = place_on_a_new_node(&app, "b-1", &order_id, &token, &[("tea-500g", 2, 1)]).await;
    assert_eq!(same.status(), StatusCode::OK);
    assert_eq!(same.json::<Value>().await.unwrap(), placed);
    let conflict = place_on_a_new_node(
        &app,
        "b-1",
        &order_id,
        &token,
        &[("tea-500g", 2, 1), ("milk-1l", 3, 1)],
    )
    .await;
    assert_eq!(conflict.status(), StatusCode::CONFLICT);
    let problem: Value = conflict.json().await.unwrap();
    assert_eq!(problem["type"], "/problems/order-conflict");
    let stock = app.stock("tea-500g").await;
    assert_eq!(
        (&stock["available"], &stock["reserved"]),
        (&json!(98), &json!(2))
    );
    let milk = app.stock("milk-1l").await;
    assert_eq!(
        (&milk["available"], &milk["reserved"]),
        (&json!(10), &json!(0))
    );

    // an id whose placement was rejected stays rejected, and holds nothing
    let (rejected_id, rejected_token) = app.checkout("b-2").await;
    let refused = app
        .place_order("b-2", &rejected_id, &rejected_token, &[("milk-1l", 11, 1)])
        .await;
    assert_eq!(refused.status(), StatusCode::CONFLICT);
    let refused_again = place_on_a_new_node(
        &app,
        "b-2",
        &rejected_id,
        &rejected_token,
        &[("milk-1l", 1, 1)],
    )
    .await;
    assert_eq!(refused_again.status(), StatusCode::CONFLICT);
    let problem: Value = refused_again.json().await.unwrap();
    assert_eq!(problem["type"], "/problems/placement-rejected");
    let milk = app.stock("milk-1l").await;
    assert_eq!(
        (&milk["available"], &milk["reserved"]),
        (&json!(10), &json!(0))
    );

    // a cancelled order placed again stays cancelled, and its stock stays released
    let cancelled = app.cancel_order("b-1", &order_id, 1).await;
    assert_eq!(cancelled.status(), StatusCode::OK);
    let repeated = place_on_a_new_node(&app, "b-1", &order_id, &token, &[("tea-500g", 2, 1)]).await;
    assert_eq!(repeated.status(), StatusCode::OK);
    assert_eq!(
        repeated.json::<Value>().await.unwrap()["status"],
        "Cancelled"
    );
    eventually(|| async {
        let tea = app.stock("tea-500g").await;
        (tea["available"] == 100 && tea["reserved"] == 0).then_some(())
    })
    .await;
}

/// A node checks a placement's products as it keeps them (ADR 16; here for as long as the test
/// runs, to depend on nothing but the node's reads of the log): a buyer who saw a price
/// changed on another node is served at once, and the old price is refused once this node's
/// reads of the log have passed the change.
pub async fn a_price_changed_on_another_node_is_in_force_here_once_seen(app: TestApp) {
    app.create_product(TEA).await;
    app.create_product(MILK).await;
    // this node now keeps both products
    app.order("b-1", &[("tea-500g", 1, 1), ("milk-1l", 1, 1)])
        .await;

    let other = app.another_node().await;
    for price in [249, 299, 349, 399, 449] {
        let (order_id, token) = app.checkout("b-2").await;
        let changed = other.change_price("milk-1l", price).await;
        assert_eq!(changed.status(), StatusCode::OK);
        let version = changed.json::<Value>().await.unwrap()["product_version"]
            .as_u64()
            .unwrap();
        let placed = app
            .place_order(
                "b-2",
                &order_id,
                &token,
                &[("milk-1l", 1, u32::try_from(version).unwrap())],
            )
            .await;
        assert_eq!(placed.status(), StatusCode::CREATED, "at {price} cents");
        assert_eq!(placed.json::<Value>().await.unwrap()["total_cents"], price);
    }
    assert_eq!(
        other.change_price("tea-500g", 1499).await.status(),
        StatusCode::OK
    );
    other.stop().await;

    eventually(|| async {
        let (order_id, token) = app.checkout("b-3").await;
        let stale = app
            .place_order("b-3", &order_id, &token, &[("tea-500g", 1, 1)])
            .await;
        match stale.status() {
            StatusCode::CREATED => None,
            StatusCode::CONFLICT => {
                let problem: Value = stale.json().await.unwrap();
                assert_eq!(problem["type"], "/problems/product-changed");
                Some(())
            }
            other => panic!("a stale placement answered {other}"),
        }
    })
    .await;
}

/// `/metrics` counts requests by method, route pattern and status: a route with parameters
/// under its pattern, whatever the id; a path no route matches as `unmatched`.
pub async fn requests_are_counted_by_route_pattern(app: TestApp) {
    let seller = app.seller();
    for path in [
        "/healthz",
        "/healthz",
        "/v1/orders/1",
        "/v1/orders/2",
        "/nope",
    ] {
        app.client
            .get(app.url(path))
            .bearer_auth(&seller)
            .send()
            .await
            .unwrap();
    }
    let metrics = app
        .metrics_with(r#"http_requests_total{method="GET",route="/healthz",status="200"} 2"#)
        .await;
    for counted in [
        r#"http_requests_total{method="GET",route="/v1/orders/{order_id}",status="404"} 2"#,
        r#"http_requests_total{method="GET",route="unmatched",status="404"} 1"#,
        r#"http_request_duration_seconds_count{method="GET",route="/healthz"} 2"#,
    ] {
        assert!(metrics.contains(counted), "{counted} in\n{metrics}");
    }
}

/// Stock added with an `Idempotency-Key`, then the identical request again (a client's retry
/// after a lost answer): the retry answers as the first did and adds nothing.
pub async fn a_retried_stock_addition_answers_the_first_result(app: TestApp) {
    app.create_product(MILK).await;
    let add = || {
        app.client
            .post(app.url("/v1/skus/milk-1l/stock"))
            .bearer_auth(app.seller())
            .header("Idempotency-Key", "restock-7")
            .json(&json!({ "quantity": 5 }))
            .send()
    };
    let first = add().await.unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    let first_tag = etag(&first);
    let first: Value = first.json().await.unwrap();
    assert_eq!(first["available"], 15);
    for _ in 0..3 {
        let again = add().await.unwrap();
        assert_eq!(
            again.status(),
            StatusCode::OK,
            "{}",
            again.text().await.unwrap()
        );
        assert_eq!(etag(&again), first_tag);
        let again: Value = again.json().await.unwrap();
        assert_eq!(again, first);
    }
    let stock = app.stock("milk-1l").await;
    assert_eq!(stock["available"], 15);
}

/// An `Idempotency-Key` names one request: the same key with another quantity is refused
/// (422) and adds nothing, while the first request's retry still answers as it did.
pub async fn an_idempotency_key_reused_for_another_request_is_refused(app: TestApp) {
    app.create_product(MILK).await;
    let add = |quantity: u32| {
        app.client
            .post(app.url("/v1/skus/milk-1l/stock"))
            .bearer_auth(app.seller())
            .header("Idempotency-Key", "restock-8")
            .json(&json!({ "quantity": quantity }))
            .send()
    };
    assert_eq!(add(5).await.unwrap().status(), StatusCode::OK);
    let other = add(7).await.unwrap();
    assert_eq!(other.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(other.headers()["content-type"], "application/problem+json");
    let problem: Value = other.json().await.unwrap();
    assert_eq!(problem["type"], "/problems/idempotency-key-reused");
    assert_eq!(add(5).await.unwrap().status(), StatusCode::OK);
    assert_eq!(app.stock("milk-1l").await["available"], 15);
}

/// A provider transaction pays one order: naming it for another order is refused (409) and
/// records nothing there, while the order it paid stays paid.
pub async fn a_transaction_id_pays_one_order_only(app: TestApp) {
    app.create_product(TEA).await;
    let first = app.order("b-1", &[("tea-500g", 1, 1)]).await;
    let second = app.order("b-2", &[("tea-500g", 1, 1)]).await;
    let (first, second) = (
        first["order_id"].as_str().unwrap(),
        second["order_id"].as_str().unwrap(),
    );
    let paid = app.notify_payment(first, "T-500", 1299).await;
    assert_eq!(paid.status(), StatusCode::OK);
    let reused = app.notify_payment(second, "T-500", 1299).await;
    assert_eq!(reused.status(), StatusCode::CONFLICT);
    let problem: Value = reused.json().await.unwrap();
    assert_eq!(problem["type"], "/problems/txn-of-another-order");
    let second_now: Value = app
        .get_order_at(&app.buyer("b-2"), second, 1)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (&second_now["status"], &second_now["version"]),
        (&json!("PendingPayment"), &json!(1))
    );
    // the order it paid answers the same notification as before
    let again = app.notify_payment(first, "T-500", 1299).await;
    assert_eq!(again.status(), StatusCode::OK);
    let again: Value = again.json().await.unwrap();
    assert_eq!(
        (&again["status"], &again["version"]),
        (&json!("Paid"), &json!(2))
    );
}
