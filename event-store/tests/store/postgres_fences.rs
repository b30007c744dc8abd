//! Genes and fences in the log (ADR 42): every event row carries its stream's gene, and an
//! append to a gene fenced off the database fails with `Moved` and writes nothing.

use std::time::Duration;

use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use event_store::{AppendError, EventMetadata, EventStore, StoreError, gene_of_stream};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;

use crate::counter::{Counter, CounterError, CounterEvent, added};

/// A stream of the counter's events under another aggregate type's name, for the types whose
/// genes are chosen differently (an order's by its id, every other one by its id's hash).
macro_rules! stream_type {
    ($name:ident, $type:literal) => {
        #[derive(Debug, Clone, Default, Serialize, Deserialize)]
        struct $name;

        impl Aggregate for $name {
            const TYPE: &'static str = $type;
            type Command = ();
            type Event = CounterEvent;
            type Error = CounterError;
            type Services = ();

            async fn handle(
                &mut self,
                (): (),
                _: &(),
                _: &EventSink<Self>,
            ) -> Result<(), CounterError> {
                Ok(())
            }

            fn apply(&mut self, _: CounterEvent) {}
        }
    };
}

stream_type!(OrderStream, "Order");
stream_type!(CartStream, "Cart");
stream_type!(SkuStream, "Sku");

/// An order id whose gene is 889 (its low ten bits).
const ORDER: &str = "123456789012345";

async fn events(pool: &PgPool) -> Vec<(String, String, Option<i16>)> {
    sqlx::query_as("SELECT aggregate_type, aggregate_id, gene FROM events ORDER BY position")
        .fetch_all(pool)
        .await
        .unwrap()
}

#[sqlx::test(migrator = "event_store::MIGRATOR")]
async fn each_event_row_holds_its_stream_s_gene(pool: PgPool) {
    let store = EventStore::postgres(pool.clone());
    let meta = EventMetadata::default();
    store
        .append::<OrderStream>(ORDER, 0, &[added(1)], &meta)
        .await
        .unwrap();
    store
        .append::<CartStream>("b-42", 0, &[added(1)], &meta)
        .await
        .unwrap();
    store
        .append::<SkuStream>("buyer-2", 0, &[added(1), added(2)], &meta)
        .await
        .unwrap();
    let genes: Vec<Option<i16>> = events(&pool).await.into_iter().map(|e| e.2).collect();
    // pinned in the gene's own tests: order 889 by its id, cart 514 and SKU 823 by the hash
    assert_eq!(genes, [Some(889), Some(514), Some(823), Some(823)]);
    assert_eq!(gene_of_stream("Sku", "buyer-2"), 823);
}

#[sqlx::test(migrator = "event_store::MIGRATOR")]
async fn an_append_to_a_fenced_gene_fails_and_writes_nothing(pool: PgPool) {
    let store = EventStore::postgres(pool.clone());
    let meta = EventMetadata::default();
    store
        .append::<OrderStream>(ORDER, 0, &[added(1)], &meta)
        .await
        .unwrap();
    store.fence_gene(889, 7).await.unwrap();
    let before = events(&pool).await;
    let refused = store
        .append::<OrderStream>(ORDER, 1, &[added(2)], &meta)
        .await;
    assert!(
        matches!(
            refused,
            Err(AppendError::Store(StoreError::Moved {
                gene: 889,
                map_version: 7
            }))
        ),
        "{refused:?}"
    );
    assert_eq!(events(&pool).await, before);
    // other genes are not fenced
    store
        .append::<CartStream>("b-42", 0, &[added(1)], &meta)
        .await
        .unwrap();
    store.lift_fence(889).await.unwrap();
    store
        .append::<OrderStream>(ORDER, 1, &[added(2)], &meta)
        .await
        .unwrap();
}

/// Appends that wait together are written by one statement: a fenced one among them fails
/// alone, and the others are written.
#[sqlx::test(migrator = "event_store::MIGRATOR")]
async fn a_fenced_append_in_a_group_fails_alone(pool: PgPool) {
    const STREAMS: usize = 40;
    let store = EventStore::postgres(pool.clone());
    store.fence_gene(889, 3).await.unwrap();
    let appends = (0..STREAMS).map(|n| {
        let store = store.clone();
        async move {
            let meta = EventMetadata::default();
            if n == 0 {
                store
                    .append::<OrderStream>(ORDER, 0, &[added(1)], &meta)
                    .await
            } else {
                let id = format!("c-{n}");
                store.append::<Counter>(&id, 0, &[added(1)], &meta).await
            }
        }
    });
    let results = futures::future::join_all(appends).await;
    assert!(
        matches!(
            results[0],
            Err(AppendError::Store(StoreError::Moved { gene: 889, .. }))
        ),
        "{:?}",
        results[0]
    );
    for (n, result) in results.iter().enumerate().skip(1) {
        let fenced = gene_of_stream("Counter", &format!("c-{n}")) == 889;
        assert_eq!(result.is_err(), fenced, "c-{n}: {result:?}");
    }
    let written = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(events(&pool).await.len(), written);
}

/// A fence is in force once `fence_gene` returns: it waits for an append that holds the log
/// writers' lock (and so may have read the fences before the fence was written) to end.
#[sqlx::test(migrator = "event_store::MIGRATOR")]
async fn setting_a_fence_waits_for_the_appends_in_flight(pool: PgPool) {
    let store = EventStore::postgres(pool.clone());
    let mut writer = pool.begin().await.unwrap();
    sqlx::query("SELECT log_append_guard('{889}')")
        .execute(&mut *writer)
        .await
        .unwrap();
    let fencing = tokio::spawn({
        let store = store.clone();
        async move { store.fence_gene(889, 2).await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !fencing.is_finished(),
        "the fence did not wait for the writer"
    );
    writer.commit().await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), fencing)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let refused = store
        .append::<OrderStream>(ORDER, 0, &[added(1)], &EventMetadata::default())
        .await;
    assert!(matches!(
        refused,
        Err(AppendError::Store(StoreError::Moved { .. }))
    ));
}

/// The embedded store is one shard: it has no fences to set.
#[tokio::test]
async fn the_embedded_store_has_no_fences() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("events.db").display());
    let store = EventStore::connect(&url).await.unwrap();
    assert!(matches!(
        store.fence_gene(1, 2).await,
        Err(StoreError::NotOnSqlite(_))
    ));
}

/// A command on a fenced gene is answered `Moved` at once, not decided again until the
/// retries run out: deciding again on this database could never succeed. Nothing is written.
#[sqlx::test(migrator = "event_store::MIGRATOR")]
async fn a_command_on_a_fenced_gene_is_answered_moved_and_writes_nothing(pool: PgPool) {
    let store = EventStore::postgres(pool.clone());
    let meta = EventMetadata::default();
    store
        .append::<OrderStream>(ORDER, 0, &[added(1)], &meta)
        .await
        .unwrap();
    store.fence_gene(889, 4).await.unwrap();
    let before = events(&pool).await;
    let started = std::time::Instant::now();
    let refused =
        event_store::execute::<OrderStream, _>(&store, ORDER, None, &meta, |_| Ok(vec![added(2)]))
            .await;
    assert!(
        matches!(
            refused,
            Err(event_store::ExecuteError::Store(StoreError::Moved {
                gene: 889,
                map_version: 4
            }))
        ),
        "{refused:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(events(&pool).await, before);
}
