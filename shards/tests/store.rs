//! The map's versions on PostgreSQL: a fresh database per test
//! (`#[sqlx::test(migrator = "shards::MIGRATOR")]`, run with `DATABASE_URL` set).
#![allow(clippy::expect_used)]

use shards::{MapStore, ShardMap, ShardName, StoreError};
use sqlx::PgPool;

fn name(text: &str) -> ShardName {
    text.parse().expect("a valid shard name")
}

#[sqlx::test(migrator = "shards::MIGRATOR")]
async fn a_database_without_a_map_has_every_gene_on_the_default_shard(pool: PgPool) {
    let store = MapStore::new(pool);
    assert_eq!(store.newest_version().await.expect("read"), 1);
    assert_eq!(
        store.newest().await.expect("read"),
        ShardMap::single(ShardName::default_shard())
    );
}

#[sqlx::test(migrator = "shards::MIGRATOR")]
async fn a_published_version_is_read_back_whole_and_is_in_force(pool: PgPool) {
    let store = MapStore::new(pool);
    let moved = store
        .newest()
        .await
        .expect("read")
        .with_reads_on(0..=511, &name("s2"))
        .expect("in range");
    store
        .publish(&moved, "reads of 0-511 on s2")
        .await
        .expect("publish");
    assert_eq!(store.newest_version().await.expect("read"), 2);
    assert_eq!(store.newest().await.expect("read"), moved);
    let done = moved
        .with_writes_on(0..=511, &name("s2"))
        .expect("in range");
    store
        .publish(&done, "writes of 0-511 on s2")
        .await
        .expect("publish");
    let newest = store.newest().await.expect("read");
    assert_eq!(newest, done);
    assert_eq!(newest.assignment(100).write, name("s2"));
    assert_eq!(newest.assignment(900).write, ShardName::default_shard());
}

/// Two writers that read the same map: one version wins, the other is told to read again,
/// and what is stored is the winner's whole.
#[sqlx::test(migrator = "shards::MIGRATOR")]
async fn of_two_writers_of_one_version_one_wins(pool: PgPool) {
    let store = MapStore::new(pool);
    let base = store.newest().await.expect("read");
    let ours = base.with_reads_on(0..=99, &name("s2")).expect("in range");
    let theirs = base
        .with_reads_on(500..=599, &name("s3"))
        .expect("in range");
    let (a, b) = tokio::join!(
        store.publish(&ours, "ours"),
        store.publish(&theirs, "theirs")
    );
    let winner = match (a, b) {
        (
            Ok(()),
            Err(StoreError::Conflict {
                tried: 2,
                newest: 2,
            }),
        ) => ours,
        (
            Err(StoreError::Conflict {
                tried: 2,
                newest: 2,
            }),
            Ok(()),
        ) => theirs,
        other => panic!("expected one winner and one conflict, got {other:?}"),
    };
    assert_eq!(store.newest().await.expect("read"), winner);
    let stale = base.with_writes_on(0..=0, &name("s4")).expect("in range");
    assert!(matches!(
        store.publish(&stale, "stale").await,
        Err(StoreError::Conflict {
            tried: 2,
            newest: 2
        })
    ));
}

/// Rows edited by hand so that a gene has no shard: the version is refused as corrupt, never
/// served with a hole.
#[sqlx::test(migrator = "shards::MIGRATOR")]
async fn a_version_with_a_gene_missing_is_refused(pool: PgPool) {
    let store = MapStore::new(pool.clone());
    let moved = store
        .newest()
        .await
        .expect("read")
        .with_reads_on(0..=511, &name("s2"))
        .expect("in range");
    store.publish(&moved, "move").await.expect("publish");
    sqlx::query("DELETE FROM shard_map WHERE version = 2 AND gene_from = 0")
        .execute(&pool)
        .await
        .expect("delete");
    assert!(matches!(
        store.newest().await,
        Err(StoreError::Corrupt { version: 2, .. })
    ));
}

/// A node that follows the map has a version in force within an interval or two of its
/// publication, and never goes back to an older one.
#[sqlx::test(migrator = "shards::MIGRATOR")]
async fn a_following_node_uses_a_new_version_within_an_interval(pool: PgPool) {
    let interval = std::time::Duration::from_millis(100);
    let store = MapStore::new(pool);
    let followed = shards::FollowedMap::start(store.clone(), interval)
        .await
        .expect("start");
    assert_eq!(followed.current().version(), 1);
    let mut changes = followed.subscribe();
    let moved = followed
        .current()
        .with_reads_on(0..=511, &name("s2"))
        .expect("in range");
    store.publish(&moved, "move").await.expect("publish");
    let published = std::time::Instant::now();
    tokio::time::timeout(interval * 20, changes.changed())
        .await
        .expect("a new version within 20 intervals")
        .expect("the follower runs");
    assert!(published.elapsed() < interval * 20);
    assert_eq!(*followed.current(), moved);
}

/// `orders shards` says when the version in force was written and why.
#[sqlx::test(migrator = "shards::MIGRATOR")]
async fn the_newest_version_s_note_and_time_are_read_back(pool: PgPool) {
    let store = MapStore::new(pool);
    assert_eq!(store.newest_note().await.expect("read"), None);
    let moved = store
        .newest()
        .await
        .expect("read")
        .with_reads_on(0..=511, &name("s2"))
        .expect("in range");
    store
        .publish(&moved, "reads of 0-511 on s2")
        .await
        .expect("publish");
    let note = store.newest_note().await.expect("read").expect("a version");
    assert_eq!(note.version, 2);
    assert_eq!(note.note, "reads of 0-511 on s2");
    assert!(
        note.created_at.len() == 20 && note.created_at.ends_with('Z'),
        "{}",
        note.created_at
    );
}
