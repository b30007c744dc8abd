//! Order ids issued through leased generators on PostgreSQL.

use std::collections::HashSet;
use std::sync::Arc;

use event_store::EventStore;
use futures::future::join_all;
use ids::{
    CLOCK_BACKWARD_WAIT_MAX_MS, IdError, LEASE_TTL_MS, OrderIdGenerator, OrderIdParts,
    gene_of_buyer, gene_of_order,
};
use sqlx::PgPool;

use crate::{manual, wall_now_ms};

const GENERATORS: usize = 4;
const TASKS_PER_GENERATOR: usize = 4;
const IDS_TOTAL: usize = 1_000_000;
const BUYERS: usize = 5_000;

#[sqlx::test(migrator = "ids::MIGRATOR")]
async fn four_generators_on_one_database_issue_a_million_ids_with_no_duplicate(pool: PgPool) {
    let generators = join_all((0..GENERATORS).map(|n| {
        let store = EventStore::postgres(pool.clone());
        async move {
            Arc::new(
                OrderIdGenerator::start(&store, &format!("node-{n}"))
                    .await
                    .unwrap(),
            )
        }
    }))
    .await;
    let workers: HashSet<_> = generators.iter().map(|g| g.worker_id()).collect();
    assert_eq!(workers.len(), GENERATORS, "four leases");

    let per_task = IDS_TOTAL / GENERATORS / TASKS_PER_GENERATOR;
    let buyers: Arc<Vec<(String, u16)>> = Arc::new(
        (0..BUYERS)
            .map(|i| format!("buyer-{i}"))
            .map(|buyer| {
                let gene = gene_of_buyer(&buyer);
                (buyer, gene)
            })
            .collect(),
    );
    let tasks = generators.iter().flat_map(|generator| {
        let buyers = &buyers;
        (0..TASKS_PER_GENERATOR).map(move |task| {
            let generator = Arc::clone(generator);
            let buyers = Arc::clone(buyers);
            tokio::spawn(async move {
                let mut ids = Vec::with_capacity(per_task);
                for i in 0..per_task {
                    let (buyer, gene) = &buyers[(i * 7 + task) % BUYERS];
                    let id = generator.next_id(buyer).await.unwrap();
                    assert_eq!(gene_of_order(id), *gene);
                    ids.push(id);
                }
                ids
            })
        })
    });
    let batches: Vec<Vec<u64>> = join_all(tasks)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();

    let mut all = HashSet::with_capacity(IDS_TOTAL);
    for batch in &batches {
        assert!(
            batch.windows(2).all(|w| w[0] < w[1]),
            "one task's ids increase"
        );
        for &id in batch {
            assert!(id > 0 && i64::try_from(id).is_ok());
            assert!(all.insert(id), "duplicate id {id}");
        }
    }
    assert_eq!(all.len(), IDS_TOTAL);
    for generator in generators {
        Arc::into_inner(generator)
            .unwrap()
            .shutdown()
            .await
            .unwrap();
    }
}

#[sqlx::test(migrator = "ids::MIGRATOR")]
async fn the_gene_of_an_order_id_equals_its_buyers(pool: PgPool) {
    let generator = OrderIdGenerator::start(&EventStore::postgres(pool), "node")
        .await
        .unwrap();
    let buyers = (0..2_000).map(|i| format!("buyer-{i}")).chain(
        [
            "",
            "买家-7",
            "b\u{0}x",
            "a very long buyer id ".repeat(40).as_str(),
        ]
        .map(String::from),
    );
    for buyer in buyers {
        let before = wall_now_ms();
        let id = generator.next_id(&buyer).await.unwrap();
        let parts = OrderIdParts::of(id);
        assert_eq!(gene_of_order(id), gene_of_buyer(&buyer), "{buyer:?}");
        assert_eq!(parts.gene, gene_of_buyer(&buyer));
        assert_eq!(parts.worker_id, generator.worker_id());
        assert!(parts.time_ms >= before && parts.time_ms <= wall_now_ms());
        assert_eq!(parts.to_id(), Some(id));
    }
    generator.shutdown().await.unwrap();
}

#[sqlx::test(migrator = "ids::MIGRATOR")]
async fn a_backward_clock_within_the_limit_waits_and_never_duplicates_and_beyond_it_refuses(
    pool: PgPool,
) {
    let (clock, options) = manual();
    let t = wall_now_ms();
    clock.set_wall_ms(t);
    let generator = OrderIdGenerator::start_with(&EventStore::postgres(pool), "node", options)
        .await
        .unwrap();
    let mut issued: Vec<u64> = Vec::new();
    for _ in 0..10 {
        issued.push(generator.next_id("buyer-1").await.unwrap());
    }

    // back by the most that is waited out: nothing is issued until the clock is back at t
    clock.set_wall_ms(t - CLOCK_BACKWARD_WAIT_MAX_MS);
    let mut waiting = Box::pin(generator.next_id("buyer-1"));
    for _ in 0..20 {
        assert!(futures::poll!(waiting.as_mut()).is_pending());
        tokio::task::yield_now().await;
    }
    clock.set_wall_ms(t);
    let after_wait = waiting.await.unwrap();
    assert_eq!(OrderIdParts::of(after_wait).time_ms, t);
    issued.push(after_wait);

    // back by one ms more: refused, saying by how much
    clock.set_wall_ms(t - CLOCK_BACKWARD_WAIT_MAX_MS - 1);
    match generator.next_id("buyer-1").await {
        Err(IdError::ClockMovedBack { back_ms, .. }) => {
            assert_eq!(back_ms, CLOCK_BACKWARD_WAIT_MAX_MS + 1);
        }
        other => panic!("{other:?}"),
    }
    let message = generator.next_id("buyer-1").await.unwrap_err().to_string();
    assert!(message.contains("moved back by 6 ms"), "{message}");

    // once the clock catches up, issuing resumes after the last id
    clock.set_wall_ms(t + 1);
    issued.push(generator.next_id("buyer-1").await.unwrap());
    assert!(issued.windows(2).all(|w| w[0] < w[1]), "{issued:?}");
    generator.shutdown().await.unwrap();
}

#[sqlx::test(migrator = "ids::MIGRATOR")]
async fn a_used_up_millisecond_waits_for_the_next(pool: PgPool) {
    let (clock, options) = manual();
    let generator = OrderIdGenerator::start_with(&EventStore::postgres(pool), "node", options)
        .await
        .unwrap();
    let mut ids = Vec::new();
    for _ in 0..ids::SEQUENCE_COUNT {
        ids.push(generator.next_id("buyer-1").await.unwrap());
    }
    let mut waiting = Box::pin(generator.next_id("buyer-1"));
    for _ in 0..20 {
        assert!(futures::poll!(waiting.as_mut()).is_pending());
        tokio::task::yield_now().await;
    }
    clock.advance_ms(1);
    let next = waiting.await.unwrap();
    assert_eq!(OrderIdParts::of(next).sequence, 0);
    assert!(next > ids[ids.len() - 1]);
    generator.shutdown().await.unwrap();
}

#[sqlx::test(migrator = "ids::MIGRATOR")]
async fn a_generator_refuses_to_issue_past_the_time_its_lease_covers(pool: PgPool) {
    let (clock, options) = manual();
    let generator = OrderIdGenerator::start_with(&EventStore::postgres(pool), "node", options)
        .await
        .unwrap();
    generator.next_id("buyer-1").await.unwrap();
    // the wall clock leaps forward (monotonic time does not): the lease promised no such ids
    clock.set_wall_ms(wall_now_ms() + 2 * LEASE_TTL_MS);
    assert!(matches!(
        generator.next_id("buyer-1").await,
        Err(IdError::BeyondLease { .. })
    ));
    generator.renew().await.unwrap();
    generator.next_id("buyer-1").await.unwrap();
    generator.shutdown().await.unwrap();
}
