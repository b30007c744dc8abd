//! Leaf-segment sequences on PostgreSQL.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use event_store::EventStore;
use futures::future::join_all;
use ids::{ManualClock, SegmentAllocator, SegmentOptions};
use sqlx::PgPool;

use crate::{eventually, wall_now_ms};

const ALLOCATORS: usize = 4;
const TASKS_PER_ALLOCATOR: usize = 4;
const IDS_TOTAL: usize = 1_000_000;
const MINUTE_MS: u64 = 60_000;

#[sqlx::test(migrator = "ids::MIGRATOR")]
async fn four_segment_allocators_issue_a_million_ids_with_no_duplicate(pool: PgPool) {
    let allocators: Vec<_> = (0..ALLOCATORS)
        .map(|_| SegmentAllocator::new(&EventStore::postgres(pool.clone()), "trade-no").unwrap())
        .collect();
    let per_task = IDS_TOTAL / ALLOCATORS / TASKS_PER_ALLOCATOR;
    let tasks = allocators.iter().flat_map(|allocator| {
        (0..TASKS_PER_ALLOCATOR).map(move |_| {
            let allocator = allocator.clone();
            tokio::spawn(async move {
                let mut ids = Vec::with_capacity(per_task);
                for _ in 0..per_task {
                    ids.push(allocator.next().await.unwrap());
                }
                ids
            })
        })
    });
    let batches: Vec<Vec<i64>> = join_all(tasks)
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
            assert!(id > 0);
            assert!(all.insert(id), "duplicate id {id}");
        }
    }
    assert_eq!(all.len(), IDS_TOTAL);
    // ranges are handed out back to back: at most the unused tails are missing
    let max_id: i64 =
        sqlx::query_scalar("SELECT max_id FROM id_segments WHERE biz_tag = 'trade-no'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(*all.iter().max().unwrap() <= max_id);
}

#[sqlx::test(migrator = "ids::MIGRATOR")]
async fn one_allocator_counts_1_2_3_across_segments(pool: PgPool) {
    let options = SegmentOptions {
        step_initial: 10,
        step_max: 40,
        ..SegmentOptions::default()
    };
    let allocator =
        SegmentAllocator::with_options(&EventStore::postgres(pool), "refund-no", options).unwrap();
    for expected in 1..=500 {
        assert_eq!(allocator.next().await.unwrap(), expected);
    }
}

#[sqlx::test(migrator = "ids::MIGRATOR")]
async fn a_caller_that_gives_up_while_loading_does_not_stall_the_others(pool: PgPool) {
    let allocator = SegmentAllocator::new(&EventStore::postgres(pool.clone()), "trade-no").unwrap();
    // the load waits on this lock, so the first poll cannot find it done
    let mut blocker = pool.begin().await.unwrap();
    sqlx::query("LOCK TABLE id_segments IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *blocker)
        .await
        .unwrap();
    let mut giving_up = Box::pin(allocator.next());
    assert!(
        futures::poll!(giving_up.as_mut()).is_pending(),
        "loading the first segment"
    );
    assert!(allocator.status().loading);
    drop(giving_up);
    assert!(!allocator.status().loading);
    blocker.commit().await.unwrap();
    let next = tokio::time::timeout(Duration::from_secs(10), allocator.next()).await;
    assert!(next.expect("not stalled").unwrap() > 0);
}

#[sqlx::test(migrator = "ids::MIGRATOR")]
async fn issuing_does_not_wait_for_the_database_while_the_next_segment_is_ready(pool: PgPool) {
    let options = SegmentOptions {
        step_initial: 100,
        step_max: 100,
        ..SegmentOptions::default()
    };
    let allocator =
        SegmentAllocator::with_options(&EventStore::postgres(pool.clone()), "trade-no", options)
            .unwrap();
    for expected in 1..=9 {
        assert_eq!(allocator.next().await.unwrap(), expected);
    }
    assert!(
        !allocator.status().next_ready,
        "below 10% nothing is loaded"
    );
    assert_eq!(allocator.next().await.unwrap(), 10);
    eventually("the next segment loads at 10% use", || {
        allocator.status().next_ready
    })
    .await;

    // the database goes away: the rest of this segment and all of the next still issue
    sqlx::query("ALTER TABLE id_segments RENAME TO id_segments_away")
        .execute(&pool)
        .await
        .unwrap();
    for expected in 11..=200 {
        assert_eq!(allocator.next().await.unwrap(), expected);
    }
    // both used up: now the caller needs the database, and says it failed
    assert!(matches!(
        allocator.next().await,
        Err(ids::IdError::Database(_))
    ));
    sqlx::query("ALTER TABLE id_segments_away RENAME TO id_segments")
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(allocator.next().await.unwrap(), 201);
}

#[sqlx::test(migrator = "ids::MIGRATOR")]
async fn the_segment_step_doubles_under_15_minutes_and_halves_over_30(pool: PgPool) {
    let clock = Arc::new(ManualClock::new(wall_now_ms()));
    let options = SegmentOptions {
        clock: clock.clone(),
        step_initial: 100,
        step_max: 400,
    };
    let allocator =
        SegmentAllocator::with_options(&EventStore::postgres(pool.clone()), "refund-no", options)
            .unwrap();
    let stored_step = || async {
        sqlx::query_scalar::<_, i32>("SELECT step FROM id_segments WHERE biz_tag = 'refund-no'")
            .fetch_one(&pool)
            .await
            .unwrap()
    };
    allocator.next().await.unwrap();
    assert_eq!(
        allocator.status().step,
        100,
        "the first segment has the initial step"
    );

    // `minutes` after the latest load, uses the current segment until the next one loads;
    // switches to it and returns its step
    let next_segment_after = async |minutes: u64| {
        clock.advance_ms(minutes * MINUTE_MS);
        while !(allocator.status().loading || allocator.status().next_ready) {
            allocator.next().await.unwrap();
        }
        eventually("the next segment loads", || allocator.status().next_ready).await;
        let step = allocator.status().step;
        while allocator.status().next_ready {
            allocator.next().await.unwrap();
        }
        step
    };

    assert_eq!(
        next_segment_after(0).await,
        200,
        "under 15 minutes: doubled"
    );
    assert_eq!(stored_step().await, 200);
    assert_eq!(next_segment_after(31).await, 100, "over 30 minutes: halved");
    assert_eq!(next_segment_after(20).await, 100, "between: kept");
    assert_eq!(next_segment_after(1).await, 200);
    assert_eq!(next_segment_after(1).await, 400);
    assert_eq!(next_segment_after(1).await, 400, "never above the max");
    assert_eq!(next_segment_after(60).await, 200);
    assert_eq!(next_segment_after(60).await, 100);
    assert_eq!(next_segment_after(60).await, 100, "never below the initial");
    assert_eq!(stored_step().await, 100);
}
