//! The embedded SQLite backend: the same leases and segments on a temporary file.

use std::collections::HashSet;

use event_store::EventStore;
use futures::future::join_all;
use ids::{OrderIdGenerator, SegmentAllocator, gene_of_buyer, gene_of_order};
use tempfile::TempDir;

async fn sqlite_store() -> (EventStore, TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("events.db").display());
    let store = EventStore::connect(&url).await.unwrap();
    store
        .migrate(&ids::MIGRATOR, &ids::SQLITE_MIGRATOR)
        .await
        .unwrap();
    (store, dir)
}

#[tokio::test]
async fn the_sqlite_backend_leases_distinct_worker_ids_and_reuses_released_ones() {
    let (store, _dir) = sqlite_store().await;
    let generators: Vec<_> = join_all((0..4).map(|n| {
        let store = &store;
        async move { OrderIdGenerator::start(store, &format!("node-{n}")).await }
    }))
    .await
    .into_iter()
    .map(Result::unwrap)
    .collect();
    let workers: HashSet<u16> = generators.iter().map(OrderIdGenerator::worker_id).collect();
    assert_eq!(workers, HashSet::from([0, 1, 2, 3]));

    let mut ids = HashSet::new();
    for generator in &generators {
        for i in 0..1_000 {
            let buyer = format!("buyer-{i}");
            let id = generator.next_id(&buyer).await.unwrap();
            assert_eq!(gene_of_order(id), gene_of_buyer(&buyer));
            assert!(ids.insert(id));
        }
    }
    let mut generators = generators.into_iter();
    let first = generators.next().unwrap();
    let released = first.worker_id();
    let last = first.next_id("buyer-1").await.unwrap();
    first.shutdown().await.unwrap();

    let successor = OrderIdGenerator::start(&store, "node-9").await.unwrap();
    assert_eq!(successor.worker_id(), released);
    assert!(successor.next_id("buyer-1").await.unwrap() > last);
    successor.shutdown().await.unwrap();
    for generator in generators {
        generator.shutdown().await.unwrap();
    }
}

#[tokio::test]
async fn the_sqlite_backend_allocates_disjoint_segments() {
    let (store, _dir) = sqlite_store().await;
    let allocators = [
        SegmentAllocator::new(&store, "trade-no").unwrap(),
        SegmentAllocator::new(&store, "trade-no").unwrap(),
        SegmentAllocator::new(&store, "refund-no").unwrap(),
    ];
    let batches = join_all(allocators.iter().map(|allocator| async move {
        let mut ids = Vec::new();
        for _ in 0..20_000 {
            ids.push(allocator.next().await.unwrap());
        }
        ids
    }))
    .await;
    let trade: HashSet<i64> = batches[0].iter().chain(&batches[1]).copied().collect();
    assert_eq!(trade.len(), 40_000, "no duplicate within a tag");
    assert_eq!(
        batches[2],
        (1..=20_000).collect::<Vec<i64>>(),
        "tags count apart"
    );
}
