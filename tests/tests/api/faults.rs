//! Faults answered as faults: a database that cannot be reached is 503 with `Retry-After`,
//! never 500, and `/readyz` says so within a second.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::Connection;

use crate::helpers::{NewProduct, TestApp, eventually};

/// The app's database name and an admin connection to its server.
async fn admin(app: &TestApp) -> (String, sqlx::PgConnection) {
    let url = &app.settings.database_url;
    let (server, name) = url.rsplit_once('/').unwrap();
    let admin = sqlx::PgConnection::connect(&format!("{server}/postgres"))
        .await
        .unwrap();
    (name.to_owned(), admin)
}

async fn create(app: &TestApp, sku: &str) -> reqwest::Response {
    app.client
        .post(app.url("/v1/products"))
        .bearer_auth(app.seller())
        .json(&json!({"sku": sku, "title": "Tea", "price_cents": 100, "initial_stock": 1}))
        .send()
        .await
        .unwrap()
}

pub async fn a_lost_database_is_answered_503_with_retry_after_and_readyz_says_so(app: TestApp) {
    app.create_product(NewProduct {
        sku: "tea",
        price_cents: 100,
        stock: 1,
    })
    .await;
    let (name, mut admin) = admin(&app).await;
    sqlx::query(&format!(
        "ALTER DATABASE {name} WITH ALLOW_CONNECTIONS false"
    ))
    .execute(&mut admin)
    .await
    .unwrap();
    sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1")
        .bind(&name)
        .execute(&mut admin)
        .await
        .unwrap();

    let refused = create(&app, "cup").await;
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        refused.headers()["retry-after"].to_str().unwrap(),
        "1",
        "{refused:?}"
    );
    let problem: Value = refused.json().await.unwrap();
    assert_eq!(problem["type"], "/problems/unavailable");

    let asked = Instant::now();
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        asked.elapsed() < Duration::from_millis(1_500),
        "{:?}",
        asked.elapsed()
    );

    sqlx::query(&format!(
        "ALTER DATABASE {name} WITH ALLOW_CONNECTIONS true"
    ))
    .execute(&mut admin)
    .await
    .unwrap();
    eventually(|| async {
        let created = create(&app, "cup").await;
        (created.status() == StatusCode::CREATED).then_some(())
    })
    .await;
}

/// A stall of the log is visible: while an append is held open, `/metrics` shows how long it
/// has run, and the views' lag in seconds grows instead of reading 0.
pub async fn a_held_append_shows_on_the_metrics_as_its_age_and_the_views_lag(app: TestApp) {
    let held = app.hold_the_log().await;
    // an event committed after the held one waits behind it
    let created = create(&app, "tea").await;
    assert!(created.status().is_success(), "{}", created.status());
    let stalled = eventually(|| async {
        let text = app.metrics_with("log_oldest_append_seconds").await;
        let append = gauge(&text, "log_oldest_append_seconds", "");
        let lag = gauge(&text, "projection_lag_seconds", "projection=\"stock\"");
        (append >= 1.0 && lag >= 1.0).then_some((append, lag))
    })
    .await;
    assert!(stalled.0 >= 1.0 && stalled.1 >= 1.0, "{stalled:?}");
    held.rollback().await.unwrap();
}

/// The value of a gauge (or counter) in a `/metrics` text, the first line of `name` whose
/// labels contain `labels`; 0 when there is none.
pub fn gauge(text: &str, name: &str, labels: &str) -> f64 {
    text.lines()
        .filter(|line| line.starts_with(name) && line.contains(labels))
        .find_map(|line| line.rsplit_once(' ')?.1.parse().ok())
        .unwrap_or(0.0)
}
