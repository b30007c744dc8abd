//! The moves' rows in the catalog: a fresh database per test
//! (`#[sqlx::test(migrator = "shards::MIGRATOR")]`, run with `DATABASE_URL` set).
#![allow(clippy::expect_used)]

use shards::{Job, JobError, Jobs, ShardName, Step};
use sqlx::PgPool;

fn name(text: &str) -> ShardName {
    text.parse().expect("a valid shard name")
}

/// A move started and run through every step.
async fn finished(jobs: &Jobs, genes: std::ops::RangeInclusive<u16>, from: &str, to: &str) -> Job {
    let mut job = jobs
        .start(&genes, &name(from), &name(to))
        .await
        .expect("the move starts");
    while job.step != Step::Done {
        jobs.advance(&mut job).await.expect("the move advances");
    }
    job
}

/// Genes going back to a shard that still holds an earlier move's copies of them are refused
/// until that move is cleaned up (its cleanup would delete them from their home); moving
/// them on, or other genes to that shard, is not.
#[sqlx::test(migrator = "shards::MIGRATOR")]
async fn a_move_back_to_a_shard_holding_copies_waits_for_their_cleanup(pool: PgPool) {
    let jobs = Jobs::new(pool);
    let mut away = jobs
        .start(&(0..=170), &name("default"), &name("s3"))
        .await
        .expect("the move starts");
    // while it runs, it is the one running
    match jobs
        .start(&(100..=200), &name("s3"), &name("default"))
        .await
    {
        Err(JobError::AnotherRunning(running)) => assert_eq!(running.id, away.id),
        other => panic!("not refused as running: {other:?}"),
    }
    while away.step != Step::Done {
        jobs.advance(&mut away).await.expect("the move advances");
    }

    let back = jobs
        .start(&(100..=200), &name("s3"), &name("default"))
        .await;
    match back {
        Err(JobError::NotCleanedUp(left)) => assert_eq!(left.id, away.id),
        other => panic!("not refused: {other:?}"),
    }
    let said = JobError::NotCleanedUp(Box::new(away.clone())).to_string();
    assert_eq!(
        said,
        format!(
            "move {} took genes 0-170 from default to s3 and its copies are still on default: \
             run `orders reshard --cleanup` first",
            away.id
        )
    );
    assert_eq!(jobs.running().await.expect("read"), None, "nothing started");

    finished(&jobs, 171..=200, "s3", "default").await;
    finished(&jobs, 0..=170, "s3", "s2").await;
    jobs.cleaned(&mut away).await.expect("cleaned");
    finished(&jobs, 0..=170, "s2", "default").await;
}
