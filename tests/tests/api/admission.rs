//! Admission control, the risk rule and the filter of known ids over HTTP (ADR 39): bursts
//! are answered 429 with `Retry-After` and write nothing, the risk rule refuses with its own
//! problem only when on, and made-up ids are answered 404 without a database read, while
//! ids created after start, here or on another node, are found.

use std::time::Instant;

use command_api::config::Settings;
use reqwest::{Response, StatusCode};
use serde_json::Value;

use crate::faults::gauge;
use crate::helpers::{NewProduct, TestApp, eventually};

const TEA: NewProduct<'static> = NewProduct {
    sku: "tea-500g",
    price_cents: 1299,
    stock: 10_000,
};

/// Placements one buyer (or the node) may start at once in these tests; then one a second.
pub const BURST: u32 = 3;
/// Concurrent placements in a burst.
const PLACEMENTS: usize = 20;

/// One buyer's burst is refused beyond [`BURST`].
pub fn buyer_limited(settings: &mut Settings) {
    settings.admission_buyer_per_sec = 1;
    settings.admission_buyer_burst = BURST;
}

/// The node's burst, all buyers together, is refused beyond [`BURST`].
pub fn globally_limited(settings: &mut Settings) {
    settings.admission_global_per_sec = 1;
    settings.admission_global_burst = BURST;
}

/// The risk rule on: at most two placements by a buyer per minute.
pub fn risk_rule_on(settings: &mut Settings) {
    settings.risk_placements_rule = true;
    settings.risk_placements_per_minute = 2;
}

/// A checked-out placement: buyer, order id, checkout token.
type CheckedOut = (String, String, String);

/// Places `placements` at once; answers the responses and the seconds they took.
async fn place_at_once(app: &TestApp, placements: &[CheckedOut]) -> (Vec<Response>, f64) {
    let started = Instant::now();
    let responses = futures::future::join_all(
        placements
            .iter()
            .map(|(buyer, id, token)| app.place_order(buyer, id, token, &[("tea-500g", 1, 1)])),
    )
    .await;
    (responses, started.elapsed().as_secs_f64())
}

/// Each of `buyers` checks out one order.
async fn check_out(app: &TestApp, buyers: impl Iterator<Item = String>) -> Vec<CheckedOut> {
    let mut checked_out = Vec::new();
    for buyer in buyers {
        let (id, token) = app.checkout(&buyer).await;
        checked_out.push((buyer, id, token));
    }
    checked_out
}

/// Orders in the log.
async fn orders_in_the_log(app: &TestApp) -> usize {
    let orders = app
        .scalar("SELECT count(*) FROM events WHERE aggregate_type = 'Order' AND sequence = 1")
        .await;
    usize::try_from(orders).expect("a count")
}

/// Checks a burst's answers: each placed or refused 429 `too-many-requests` with a
/// `Retry-After` of whole seconds; at most [`BURST`] plus one a second placed; every refused
/// placement counted under `reason` and none of them in the log. Answers the placed count.
async fn refused_beyond_the_burst(
    app: &TestApp,
    responses: Vec<Response>,
    took_secs: f64,
    reason: &str,
) -> usize {
    let mut placed = 0;
    let mut refused = 0;
    for response in responses {
        match response.status() {
            StatusCode::CREATED => placed += 1,
            StatusCode::TOO_MANY_REQUESTS => {
                let retry_after = response
                    .headers()
                    .get("Retry-After")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<u64>().ok());
                assert!(retry_after.is_some_and(|secs| secs >= 1), "{retry_after:?}");
                let problem: Value = response.json().await.expect("a problem");
                assert_eq!(problem["type"], "/problems/too-many-requests");
                refused += 1;
            }
            other => panic!("a placement answered {other}"),
        }
    }
    let allowed = BURST as usize + took_secs.ceil() as usize;
    assert!(
        placed >= BURST as usize && placed <= allowed,
        "{placed} placed in {took_secs:.2} s"
    );
    assert_eq!(placed + refused, PLACEMENTS);
    let metrics = app
        .metrics_with(&format!("admission_refused_total{{reason=\"{reason}\"}}"))
        .await;
    let counted = gauge(&metrics, "admission_refused_total", reason);
    assert_eq!(counted as usize, refused);
    // a refused placement wrote nothing: the log holds the placed orders' streams only
    assert_eq!(orders_in_the_log(app).await, placed);
    placed
}

/// Many placements by one buyer at once: beyond the burst, 429 with `Retry-After`, and no
/// write; a replay of a refused request is refused again, still without a write; another
/// buyer is served meanwhile.
pub async fn a_burst_by_one_buyer_is_refused_429_and_writes_nothing(app: TestApp) {
    app.create_product(TEA).await;
    let checked_out = check_out(&app, std::iter::repeat_n("bot".to_owned(), PLACEMENTS)).await;
    let started = Instant::now();
    let (responses, took) = place_at_once(&app, &checked_out).await;
    let refused: Vec<CheckedOut> = checked_out
        .iter()
        .zip(&responses)
        .filter(|(_, r)| r.status() == StatusCode::TOO_MANY_REQUESTS)
        .map(|(placement, _)| placement.clone())
        .collect();
    let placed = refused_beyond_the_burst(&app, responses, took, "buyer").await;

    // the bot replays its refused requests at once: only what the limit lets through by now
    // is placed, the rest is refused again without a write
    let (replays, _) = place_at_once(&app, &refused).await;
    let replayed_placed = replays
        .iter()
        .filter(|r| r.status() == StatusCode::CREATED)
        .count();
    let allowed = BURST as usize + started.elapsed().as_secs_f64().ceil() as usize;
    assert!(
        placed + replayed_placed <= allowed,
        "{placed} + {replayed_placed} placed"
    );
    assert!(replayed_placed < refused.len(), "the replays were refused");
    assert_eq!(orders_in_the_log(&app).await, placed + replayed_placed);

    // another buyer is not held back by the bot
    app.order("b-1", &[("tea-500g", 1, 1)]).await;
}

/// Many buyers at once, one placement each: beyond the node's burst, 429 and no write.
pub async fn a_burst_over_many_buyers_meets_the_global_limit(app: TestApp) {
    app.create_product(TEA).await;
    let checked_out = check_out(&app, (0..PLACEMENTS).map(|i| format!("b-{i}"))).await;
    let (responses, took) = place_at_once(&app, &checked_out).await;
    refused_beyond_the_burst(&app, responses, took, "global").await;
}

/// With the risk rule on, a buyer's third placement within a minute is refused with the
/// rule's problem; another buyer is not.
pub async fn the_risk_rule_refuses_a_buyers_third_placement_in_a_minute(app: TestApp) {
    app.create_product(TEA).await;
    app.order("b-1", &[("tea-500g", 1, 1)]).await;
    app.order("b-1", &[("tea-500g", 1, 1)]).await;
    let (id, token) = app.checkout("b-1").await;
    let third = app
        .place_order("b-1", &id, &token, &[("tea-500g", 1, 1)])
        .await;
    assert_eq!(third.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(third.headers().contains_key("Retry-After"));
    let problem: Value = third.json().await.expect("a problem");
    assert_eq!(problem["type"], "/problems/risk-refused");
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.starts_with("placements-per-minute")),
        "{problem}"
    );
    app.order("b-2", &[("tea-500g", 1, 1)]).await;
}

/// With the risk rule off (the default), the same placements are all placed.
pub async fn with_the_risk_rule_off_a_buyers_third_placement_is_placed(app: TestApp) {
    app.create_product(TEA).await;
    for _ in 0..3 {
        app.order("b-1", &[("tea-500g", 1, 1)]).await;
    }
}

/// `GET path` as `token`.
async fn get(app: &TestApp, path: &str, token: &str) -> Response {
    app.client
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .expect("the server answers")
}

/// `GET path` as the seller: its status and body.
async fn read(app: &TestApp, path: &str) -> (StatusCode, Value) {
    let response = get(app, path, &app.seller()).await;
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// The reads of `aggregate` the filter saved, from `/metrics`.
async fn reads_saved(app: &TestApp, aggregate: &str) -> f64 {
    let metrics = app.metrics_with("bloom_ids").await;
    gauge(
        &metrics,
        "bloom_reads_saved_total",
        &format!("aggregate=\"{aggregate}\""),
    )
}

/// Made-up order, SKU and product ids are answered 404 with the problem of a real
/// not-found, and counted as reads saved; then, with the tables they would be read from
/// renamed away, they still are, while a real id's read fails: no made-up id reached the
/// database.
pub async fn made_up_ids_are_answered_404_without_a_database_read(app: TestApp) {
    app.create_product(TEA).await;
    let order = app.order("b-1", &[("tea-500g", 1, 1)]).await;
    let order_id = order["order_id"].as_str().expect("an order id").to_owned();
    app.read_side_settled().await;
    let made_up = [
        ("/v1/orders/4242424242", "Order"),
        ("/v1/skus/made-up-sku/stock", "Sku"),
        ("/v1/products/made-up-sku", "Product"),
    ];
    // the answer of a real not-found: another buyer's order
    let (_, not_found) = {
        let response = get(&app, &format!("/v1/orders/{order_id}"), &app.buyer("b-2")).await;
        (
            response.status(),
            response.json::<Value>().await.unwrap_or(Value::Null),
        )
    };
    for (path, aggregate) in made_up {
        let before = reads_saved(&app, aggregate).await;
        let (status, problem) = read(&app, path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(problem["type"], not_found["type"], "{path}");
        assert_eq!(reads_saved(&app, aggregate).await, before + 1.0, "{path}");
    }
    let (_, order_problem) = read(&app, "/v1/orders/4242424242").await;
    assert_eq!(
        order_problem, not_found,
        "the same problem as a real not-found"
    );

    for table in ["events", "order_detail", "order_archive", "sku_stock"] {
        app.execute_sql(&format!("ALTER TABLE {table} RENAME TO {table}_away"))
            .await;
    }
    for (path, _) in made_up {
        assert_eq!(read(&app, path).await.0, StatusCode::NOT_FOUND, "{path}");
    }
    for real in [
        format!("/v1/orders/{order_id}"),
        "/v1/skus/tea-500g/stock".to_owned(),
    ] {
        let (status, _) = read(&app, &real).await;
        assert!(status.is_server_error(), "{real} answered {status}");
    }
}

/// An id created after start is found at once on the node that created it and, from the
/// log, on another node that was already running; a node started later finds it from the
/// log it fills the filter from.
pub async fn ids_created_after_start_are_found_here_on_another_node_and_after_a_restart(
    app: TestApp,
) {
    let other = app.another_node().await;
    app.create_product(TEA).await;
    assert_eq!(read(&app, "/v1/products/tea-500g").await.0, StatusCode::OK);
    let order = app.order("b-1", &[("tea-500g", 1, 1)]).await;
    let order_id = order["order_id"].as_str().expect("an order id").to_owned();
    let detail = app.get_order_at(&app.buyer("b-1"), &order_id, 1).await;
    assert_eq!(detail.status(), StatusCode::OK);

    // the other node never wrote these: it learns them from the log
    eventually(|| async {
        (read(&other, "/v1/products/tea-500g").await.0 == StatusCode::OK).then_some(())
    })
    .await;
    let detail = other.get_order_at(&other.buyer("b-1"), &order_id, 1).await;
    assert_eq!(detail.status(), StatusCode::OK);
    other.stop().await;

    let settings = app.settings.clone();
    let app = app.restart_with(settings).await;
    assert_eq!(read(&app, "/v1/products/tea-500g").await.0, StatusCode::OK);
}
