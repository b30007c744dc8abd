//! An older version of an event, as a log written before its change holds it, is read as
//! today's on every path: loading the aggregate, reading the stream, the subscription the
//! projections follow, and the replay that reconcile runs (ADR 31). The log holds the domain's
//! own fixtures, inserted as the store of that time wrote them. Each test runs on PostgreSQL
//! (a fresh database per test) and on SQLite (a temporary file).
#![allow(clippy::unwrap_used, clippy::expect_used, unreachable_pub)]

mod common;

use common::{eventually_reconciled, sqlite_store};
use domain::{Order, OrderEvent, OrderStatus};
use event_store::{Checkpoint, EventStore};
use projections::{Projection, ProjectionMetrics, ReadModels, Runner};
use serde_json::Value;

/// The stream of order 1001 as a log written before `RefundRequested` 2.0 holds it: placed,
/// paid, and a refund of one unit of line 0 requested at version 1.0 (`items`, not `lines`).
const OLD_STREAM: [&str; 3] = [
    include_str!("../../domain/tests/fixtures/events/Order/OrderPlaced.v1.0.json"),
    include_str!("../../domain/tests/fixtures/events/Order/PaymentConfirmed.v1.0.json"),
    include_str!("../../domain/tests/fixtures/events/Order/RefundRequested.v1.0.json"),
];
const ORDER_ID: &str = "1001";

const INSERT_PG: &str = "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, \
     event_version, payload, metadata) VALUES ('Order', $1, $2, $3, $4, $5, '{}')";
const INSERT_SQLITE: &str = "INSERT INTO events (aggregate_type, aggregate_id, sequence, \
     event_type, event_version, payload, metadata) VALUES ('Order', ?, ?, ?, ?, ?, '{}')";

/// Writes the fixtures into the log as they are: type, version and payload.
async fn insert_old_stream(store: &EventStore) {
    for (index, fixture) in OLD_STREAM.iter().enumerate() {
        let stored: Value = serde_json::from_str(fixture).unwrap();
        let sequence = i64::try_from(index).unwrap() + 1;
        let (event_type, event_version) = (
            stored["event_type"].as_str().unwrap(),
            stored["event_version"].as_str().unwrap(),
        );
        if let Some(pool) = store.postgres_pool() {
            sqlx::query(INSERT_PG)
                .bind(ORDER_ID)
                .bind(sequence)
                .bind(event_type)
                .bind(event_version)
                .bind(&stored["payload"])
                .execute(pool)
                .await
                .unwrap();
        } else {
            sqlx::query(INSERT_SQLITE)
                .bind(ORDER_ID)
                .bind(sequence)
                .bind(event_type)
                .bind(event_version)
                .bind(stored["payload"].to_string())
                .execute(store.sqlite_pool().unwrap())
                .await
                .unwrap();
        }
    }
}

fn refund_lines(event: &OrderEvent) -> Vec<(u32, u32, i64)> {
    match event {
        OrderEvent::RefundRequested(requested) => requested
            .lines
            .iter()
            .map(|l| (l.line, l.quantity.get(), l.amount.minor()))
            .collect(),
        other => panic!("not a refund request: {other:?}"),
    }
}

async fn a_refund_requested_at_version_1_0_reads_as_todays_on_every_path(plain: EventStore) {
    insert_old_stream(&plain).await;
    // without the domain's upcasters the old version does not read: the upcaster does the work
    assert!(plain.load::<Order>(ORDER_ID).await.is_err());

    let store = plain.with_upcasters(domain::upcasters());
    let loaded = store.load::<Order>(ORDER_ID).await.unwrap();
    assert_eq!(loaded.version, 3);
    assert_eq!(loaded.aggregate.status(), Some(OrderStatus::Refunding));
    let refund = &loaded.aggregate.refunds()[0];
    assert_eq!(
        (refund.lines[0].line, refund.lines[0].quantity.get()),
        (0, 1)
    );
    assert_eq!(refund.amount.minor(), 971);

    let stream = store.read_stream("Order", ORDER_ID).await.unwrap();
    assert_eq!(stream[2].event_version, "2.0");
    assert_eq!(refund_lines(&stream[2].decode().unwrap()), [(0, 1, 971)]);

    let mut subscription = store.subscribe(Checkpoint::START, 10).await.unwrap();
    let mut read = Vec::new();
    while read.len() < OLD_STREAM.len() {
        read.extend(subscription.next_batch().await.unwrap());
    }
    assert_eq!(read[2].event_version, "2.0");
    assert_eq!(refund_lines(&read[2].decode().unwrap()), [(0, 1, 971)]);

    let metrics = ProjectionMetrics::unregistered().unwrap();
    Runner::new(store.clone(), Projection::Orders, metrics)
        .catch_up()
        .await
        .unwrap();
    let view = ReadModels::new(&store)
        .order(ORDER_ID)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(view.document.status, "Refunding");
    assert_eq!(view.document.refunds[0].lines, [(0, 1, 971)]);
    assert_eq!(view.version, 3);

    // reconcile replays the log page by page and finds the view equal to it
    eventually_reconciled(&store, 1).await;
}

#[tokio::test]
async fn sqlite_a_refund_requested_at_version_1_0_reads_as_todays_on_every_path() {
    let (store, _dir) = sqlite_store().await;
    a_refund_requested_at_version_1_0_reads_as_todays_on_every_path(store).await;
}

#[sqlx::test(migrator = "projections::MIGRATOR")]
async fn postgres_a_refund_requested_at_version_1_0_reads_as_todays_on_every_path(
    pool: sqlx::PgPool,
) {
    a_refund_requested_at_version_1_0_reads_as_todays_on_every_path(EventStore::postgres(pool))
        .await;
}
