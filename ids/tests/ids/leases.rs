//! Worker-id leases on PostgreSQL: acquisition races, lapses, takeovers and release.

use std::collections::HashSet;

use event_store::EventStore;
use futures::future::join_all;
use ids::{
    GeneratorOptions, IdError, LEASE_SAFETY_MARGIN_MS, LEASE_TTL_MS, OrderIdGenerator,
    OrderIdParts, WORKER_ID_COUNT,
};
use sqlx::PgPool;

use crate::{manual, wall_now_ms};

const ACQUIRERS: usize = 12;

#[sqlx::test(migrator = "ids::MIGRATOR")]
async fn concurrent_lease_acquisition_gives_distinct_worker_ids(pool: PgPool) {
    let store = EventStore::postgres(pool.clone());
    let generators = join_all((0..ACQUIRERS).map(|n| {
        let store = &store;
        async move { OrderIdGenerator::start(store, &format!("node-{n}")).await }
    }))
    .await
    .into_iter()
    .map(Result::unwrap)
    .collect::<Vec<_>>();
    let workers: HashSet<u16> = generators.iter().map(OrderIdGenerator::worker_id).collect();
    assert_eq!(workers.len(), ACQUIRERS);
    assert!(
        workers.iter().all(|&w| usize::from(w) < ACQUIRERS),
        "lowest ids first: {workers:?}"
    );

    let owners: Vec<(i32, String)> =
        sqlx::query_as("SELECT worker_id, owner FROM id_worker_leases ORDER BY worker_id")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(owners.len(), ACQUIRERS);
    for generator in generators {
        generator.shutdown().await.unwrap();
    }
}

#[sqlx::test(migrator = "ids::MIGRATOR")]
async fn when_every_worker_id_is_leased_a_generator_says_so(pool: PgPool) {
    sqlx::query(
        "INSERT INTO id_worker_leases (worker_id, owner, token, expires_at, last_ms) \
         SELECT w, 'other', 't' || w, now() + interval '1 minute', 0 FROM generate_series(0, $1 - 1) w",
    )
    .bind(i32::from(WORKER_ID_COUNT))
    .execute(&pool)
    .await
    .unwrap();
    let refused = OrderIdGenerator::start(&EventStore::postgres(pool), "node")
        .await
        .unwrap_err();
    assert!(
        matches!(refused, IdError::NoFreeWorkerId { count: 128 }),
        "{refused}"
    );
}

#[sqlx::test(migrator = "ids::MIGRATOR")]
async fn a_generator_whose_lease_lapsed_refuses_until_it_renews(pool: PgPool) {
    let (clock, options) = manual();
    let generator = OrderIdGenerator::start_with(&EventStore::postgres(pool), "node", options)
        .await
        .unwrap();
    generator.next_id("buyer-1").await.unwrap();

    // no renewal for TTL less the margin: the lease could have expired in the database
    clock.advance_ms(LEASE_TTL_MS - LEASE_SAFETY_MARGIN_MS);
    match generator.next_id("buyer-1").await {
        Err(IdError::LeaseLapsed {
            since_renewal_ms, ..
        }) => assert_eq!(since_renewal_ms, LEASE_TTL_MS - LEASE_SAFETY_MARGIN_MS),
        other => panic!("{other:?}"),
    }

    generator.renew().await.unwrap();
    generator.next_id("buyer-1").await.unwrap();
    generator.shutdown().await.unwrap();
}

#[sqlx::test(migrator = "ids::MIGRATOR")]
async fn an_expired_lease_is_taken_over_and_the_new_owners_ids_are_all_greater(pool: PgPool) {
    let store = EventStore::postgres(pool.clone());
    let (clock, options) = manual();
    let old = OrderIdGenerator::start_with(&store, "old", options.clone())
        .await
        .unwrap();
    let worker_id = old.worker_id();
    let mut old_ids = Vec::new();
    for i in 0..500 {
        if i % 50 == 0 {
            clock.advance_ms(1);
        }
        old_ids.push(old.next_id(&format!("buyer-{i}")).await.unwrap());
    }

    // the old owner stalls (no renewal) until its lease expires
    clock.advance_ms(LEASE_TTL_MS);
    sqlx::query(
        "UPDATE id_worker_leases SET expires_at = now() - interval '1 millisecond' \
         WHERE worker_id = $1",
    )
    .bind(i32::from(worker_id))
    .execute(&pool)
    .await
    .unwrap();

    let new = OrderIdGenerator::start_with(&store, "new", options)
        .await
        .unwrap();
    assert_eq!(
        new.worker_id(),
        worker_id,
        "the expired worker id is taken over"
    );
    let old_max = *old_ids.iter().max().unwrap();
    for i in 0..500 {
        if i % 50 == 0 {
            clock.advance_ms(1);
        }
        let id = new.next_id(&format!("buyer-{i}")).await.unwrap();
        assert!(id > old_max, "{id} after {old_max}");
    }

    // the old owner refuses; renewing finds the worker id gone and leases another
    assert!(matches!(
        old.next_id("buyer-1").await,
        Err(IdError::LeaseLapsed { .. })
    ));
    old.renew().await.unwrap();
    assert_ne!(old.worker_id(), worker_id);
    let again = old.next_id("buyer-1").await.unwrap();
    assert_eq!(OrderIdParts::of(again).worker_id, old.worker_id());

    let (owner, token_count): (String, i64) = sqlx::query_as(
        "SELECT (SELECT owner FROM id_worker_leases WHERE worker_id = $1), \
                (SELECT count(DISTINCT token) FROM id_worker_leases)",
    )
    .bind(i32::from(worker_id))
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!((owner.as_str(), token_count), ("new", 2));
    old.shutdown().await.unwrap();
    new.shutdown().await.unwrap();
}

#[sqlx::test(migrator = "ids::MIGRATOR")]
async fn a_released_worker_id_is_reused_at_once_after_its_last_id(pool: PgPool) {
    let store = EventStore::postgres(pool.clone());
    let first = OrderIdGenerator::start(&store, "first").await.unwrap();
    let worker_id = first.worker_id();
    let mut last = 0;
    for _ in 0..1_000 {
        last = first.next_id("buyer-1").await.unwrap();
    }
    first.shutdown().await.unwrap();
    let last_ms: i64 =
        sqlx::query_scalar("SELECT last_ms FROM id_worker_leases WHERE worker_id = $1")
            .bind(i32::from(worker_id))
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(last_ms as u64, OrderIdParts::of(last).time_ms);

    let second = OrderIdGenerator::start(&store, "second").await.unwrap();
    assert_eq!(second.worker_id(), worker_id);
    assert!(second.next_id("buyer-1").await.unwrap() > last);
    second.shutdown().await.unwrap();
}

#[sqlx::test(migrator = "ids::MIGRATOR")]
async fn a_new_owner_waits_for_a_floor_just_ahead_and_refuses_one_far_ahead(pool: PgPool) {
    let store = EventStore::postgres(pool.clone());
    let floor_ms = wall_now_ms() + 50;
    sqlx::query(
        "INSERT INTO id_worker_leases (worker_id, owner, token, expires_at, last_ms) \
         VALUES (0, 'skewed', 't', 'epoch', $1)",
    )
    .bind(floor_ms as i64)
    .execute(&pool)
    .await
    .unwrap();
    let generator = OrderIdGenerator::start(&store, "node").await.unwrap();
    assert_eq!(generator.worker_id(), 0);
    let id = generator.next_id("buyer-1").await.unwrap();
    assert!(OrderIdParts::of(id).time_ms > floor_ms);
    generator.shutdown().await.unwrap();

    let far_ms = wall_now_ms() + 10 * LEASE_TTL_MS;
    sqlx::query("UPDATE id_worker_leases SET last_ms = $1 WHERE worker_id = 0")
        .bind(far_ms as i64)
        .execute(&pool)
        .await
        .unwrap();
    let refused = OrderIdGenerator::start(&store, "node").await.unwrap_err();
    assert!(
        matches!(refused, IdError::ClockBehindWorker { worker_id: 0, behind_ms } if behind_ms > 9 * LEASE_TTL_MS),
        "{refused}"
    );
    // it gave the worker id back, promise untouched
    let (live, last_ms): (bool, i64) = sqlx::query_as(
        "SELECT expires_at > now(), last_ms FROM id_worker_leases WHERE worker_id = 0",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!((live, last_ms), (false, far_ms as i64));
}

#[sqlx::test(migrator = "ids::MIGRATOR")]
async fn options_that_would_let_a_lease_lapse_between_renewals_are_refused(pool: PgPool) {
    let options = GeneratorOptions {
        lease_renew_interval_ms: LEASE_TTL_MS,
        ..GeneratorOptions::default()
    };
    let refused = OrderIdGenerator::start_with(&EventStore::postgres(pool), "node", options)
        .await
        .unwrap_err();
    assert!(matches!(refused, IdError::InvalidOptions(_)), "{refused}");
}
