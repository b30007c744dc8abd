//! Group commit (ADR 6): appends that wait together are written by one statement, and a
//! collision in a group belongs to its own command only.

use event_store::{AppendError, EventMetadata, EventStore};
use sqlx::PgPool;

use crate::counter::{Counter, added};

fn key(key: &str) -> EventMetadata {
    EventMetadata {
        dedup_key: Some(key.to_owned()),
        ..EventMetadata::default()
    }
}

/// Many appends at once, among them one at a stale version and one with a used dedup key: the
/// others are all written, the stale one is a conflict and the repeat a duplicate.
#[sqlx::test(migrator = "event_store::MIGRATOR")]
async fn a_collision_in_a_group_fails_only_its_own_append(pool: PgPool) {
    const STREAMS: usize = 40;
    let store = EventStore::postgres(pool);
    store
        .append::<Counter>("taken", 0, &[added(1)], &key("first"))
        .await
        .unwrap();
    store
        .append::<Counter>("repeated", 0, &[added(1)], &key("once"))
        .await
        .unwrap();
    let appends = (0..STREAMS).map(|n| {
        let store = store.clone();
        async move {
            match n {
                0 => store
                    .append::<Counter>("taken", 0, &[added(2)], &key("second"))
                    .await
                    .map(|_| ()),
                1 => store
                    .append::<Counter>("repeated", 1, &[added(1)], &key("once"))
                    .await
                    .map(|_| ()),
                _ => store
                    .append::<Counter>(&format!("s-{n}"), 0, &[added(1), added(2)], &key("k"))
                    .await
                    .map(|_| ()),
            }
        }
    });
    let results = futures::future::join_all(appends).await;
    assert!(
        matches!(results[0], Err(AppendError::Conflict { .. })),
        "{:?}",
        results[0]
    );
    assert!(
        matches!(results[1], Err(AppendError::Duplicate { .. })),
        "{:?}",
        results[1]
    );
    for (n, result) in results.iter().enumerate().skip(2) {
        assert!(result.is_ok(), "stream s-{n}: {result:?}");
        let loaded = store.load::<Counter>(&format!("s-{n}")).await.unwrap();
        assert_eq!((loaded.version, loaded.aggregate.total), (2, 3));
    }
    assert_eq!(store.load::<Counter>("taken").await.unwrap().version, 1);
    assert_eq!(store.load::<Counter>("repeated").await.unwrap().version, 1);
}

/// A running append holds every reader of the log back (ADR 1), so none may run for long: one
/// that cannot finish (here it waits for the writers' lock, held exclusively elsewhere) is
/// cancelled by its statement timeout and fails, instead of waiting as long as it is blocked.
#[sqlx::test(migrator = "event_store::MIGRATOR")]
async fn an_append_that_cannot_finish_fails_at_its_statement_timeout(pool: PgPool) {
    let mut blocker = pool.acquire().await.unwrap();
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(event_store::LOG_WRITER_LOCK)
        .execute(&mut *blocker)
        .await
        .unwrap();
    let store = EventStore::postgres(pool.clone());
    let timeout = std::time::Duration::from_millis(event_store::APPEND_STATEMENT_TIMEOUT_MS);
    let started = std::time::Instant::now();
    let (events, metadata) = ([added(1)], EventMetadata::default());
    let append = store.append::<Counter>("c-1", 0, &events, &metadata);
    let result = tokio::time::timeout(timeout * 4, append)
        .await
        .expect("the blocked append ends by its statement timeout");
    let took = started.elapsed();
    assert!(result.is_err(), "a blocked append cannot succeed");
    assert!(took >= timeout, "it failed before its timeout: {took:?}");
    sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(event_store::LOG_WRITER_LOCK)
        .execute(&mut *blocker)
        .await
        .unwrap();
    store
        .append::<Counter>("c-1", 0, &[added(1)], &EventMetadata::default())
        .await
        .expect("the append goes through once nothing blocks it");
}
