//! Connecting: a clear and quick failure when NATS is not there at start.

use std::time::{Duration, Instant};

#[tokio::test]
async fn connecting_to_no_nats_fails_quickly_saying_where() {
    // a port nothing listens on
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("nats://127.0.0.1:{port}");
    let started = Instant::now();
    let err = relay::connect(&url, "nobody").await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let message = err.to_string();
    assert!(
        message.starts_with(&format!("cannot reach NATS at {url}: ")),
        "{message}"
    );
}

#[test]
fn the_relay_metrics_are_registered_under_their_names() {
    let registry = prometheus::Registry::new();
    let metrics = relay::RelayMetrics::register(&registry).unwrap();
    metrics.commit_to_ack.observe(0.004);
    metrics.published.inc();
    let names: Vec<_> = registry
        .gather()
        .iter()
        .map(|family| family.name().to_owned())
        .collect();
    assert_eq!(
        names,
        ["relay_commit_to_ack_seconds", "relay_published_total"]
    );
}
