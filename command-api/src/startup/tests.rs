//! Start-up: the store it opens reads old event versions, and settings it refuses.

use super::*;

/// The binary's store reads the older event versions a log keeps as today's (ADR 31):
/// here the domain's fixture of `RefundRequested` 1.0.
#[tokio::test]
async fn the_store_reads_an_older_event_version_as_todays() {
    let dir = tempfile::tempdir().unwrap();
    let settings = Settings {
        database_url: format!("sqlite:{}", dir.path().join("orders.db").display()),
        ..Settings::default()
    };
    let store = open_store(&settings).await.unwrap();
    let old: serde_json::Value = serde_json::from_str(include_str!(
        "../../../domain/tests/fixtures/events/Order/RefundRequested.v1.0.json"
    ))
    .unwrap();
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, \
         event_version, payload, metadata) VALUES ('Order', '1001', 1, ?, ?, ?, '{}')",
    )
    .bind(old["event_type"].as_str())
    .bind(old["event_version"].as_str())
    .bind(old["payload"].to_string())
    .execute(store.sqlite_pool().unwrap())
    .await
    .unwrap();
    let events = store.read_stream("Order", "1001").await.unwrap();
    assert_eq!(events[0].event_version, "2.0");
    assert!(matches!(
        events[0].decode::<domain::OrderEvent>().unwrap(),
        domain::OrderEvent::RefundRequested(_)
    ));
}

/// A pool too small to run on is refused before anything connects.
#[tokio::test]
async fn a_postgres_pool_under_four_connections_is_refused_naming_the_setting() {
    let settings = Settings {
        database_url: "postgres://nobody@127.0.0.1:1/none".to_owned(),
        postgres_max_connections: 3,
        ..Settings::default()
    };
    let err = open_store(&settings).await.err().map(|e| e.to_string());
    assert_eq!(
        err.as_deref(),
        Some("the setting postgres_max_connections must be at least 4, not 3")
    );
}

/// The check runs before anything is opened or bound: no store, no listener.
#[tokio::test]
async fn a_server_beyond_loopback_with_the_development_secret_does_not_start() {
    let settings = Settings {
        database_url: "postgres://nobody@127.0.0.1:1/none".to_owned(),
        http_addr: "0.0.0.0:0".parse().unwrap(),
        payment_callback_secret: "shared".to_owned(),
        ..Settings::default()
    };
    let err = Application::build(settings)
        .await
        .err()
        .map(|e| e.to_string());
    let err = err.unwrap_or_default();
    assert!(
        err.starts_with("the setting jwt_secret (environment ORDERS_JWT_SECRET)"),
        "{err}"
    );
}
