//! The whole schema, assembled from the crates that own its tables (ADR 34); this crate's own
//! tables are payment deadlines, open reservations and the transactions' orders.
//!
//! Versions are one sequence over every crate and keep the numbers they had when all of them
//! lived in event-store, so a database migrated then migrates forward with nothing to redo.

use std::sync::LazyLock;

use sqlx::migrate::Migrator;

/// This crate's own migrations on PostgreSQL.
pub static OWN_MIGRATOR: Migrator = sqlx::migrate!("migrations/postgres");

/// This crate's own migrations on SQLite.
pub static OWN_SQLITE_MIGRATOR: Migrator = sqlx::migrate!("migrations/sqlite");

/// Every table of the system on PostgreSQL: what `orders serve` and `orders migrate` run.
/// The shard map lives here only: the embedded store is one shard and has none.
pub static MIGRATOR: LazyLock<Migrator> = LazyLock::new(|| {
    event_store::migrations::assemble(&[
        &event_store::MIGRATOR,
        &ids::migrations::OWN_MIGRATOR,
        &projections::migrations::OWN_MIGRATOR,
        &shards::MIGRATOR,
        &OWN_MIGRATOR,
    ])
});

/// Every table of a shard's database but the shard map's, which lives on the default shard
/// only (ADR 42).
pub static SHARD_MIGRATOR: LazyLock<Migrator> = LazyLock::new(|| {
    event_store::migrations::assemble(&[
        &event_store::MIGRATOR,
        &ids::migrations::OWN_MIGRATOR,
        &projections::migrations::OWN_MIGRATOR,
        &OWN_MIGRATOR,
    ])
});

/// Every table of the system on SQLite: what `orders serve` and `orders migrate` run.
pub static SQLITE_MIGRATOR: LazyLock<Migrator> = LazyLock::new(|| {
    event_store::migrations::assemble(&[
        &event_store::SQLITE_MIGRATOR,
        &ids::migrations::OWN_SQLITE_MIGRATOR,
        &projections::migrations::OWN_SQLITE_MIGRATOR,
        &OWN_SQLITE_MIGRATOR,
    ])
});

/// The first migration of the whole schema that the store has not applied: its version and
/// description; `None` when the schema is complete.
pub async fn first_missing(
    store: &event_store::EventStore,
) -> Result<Option<(i64, String)>, event_store::StoreError> {
    let migrator = if store.postgres_pool().is_some() {
        &*MIGRATOR
    } else {
        &*SQLITE_MIGRATOR
    };
    first_missing_of(store, migrator).await
}

/// [`first_missing`] on the database of a shard other than the default, whose schema is
/// [`SHARD_MIGRATOR`]'s.
pub async fn first_missing_on_shard(
    store: &event_store::EventStore,
) -> Result<Option<(i64, String)>, event_store::StoreError> {
    first_missing_of(store, &SHARD_MIGRATOR).await
}

async fn first_missing_of(
    store: &event_store::EventStore,
    migrator: &Migrator,
) -> Result<Option<(i64, String)>, event_store::StoreError> {
    let applied = event_store::migrations::applied(store).await?;
    Ok(migrator
        .iter()
        .find(|m| !applied.contains(&m.version))
        .map(|m| (m.version, m.description.to_string())))
}

/// Applies the whole schema on the store's backend.
pub async fn run(store: &event_store::EventStore) -> Result<(), event_store::StoreError> {
    store.migrate(&MIGRATOR, &SQLITE_MIGRATOR).await
}

/// Applies the schema of a shard's database other than the default (PostgreSQL only).
pub async fn run_shard(store: &event_store::EventStore) -> Result<(), event_store::StoreError> {
    store.migrate(&SHARD_MIGRATOR, &SQLITE_MIGRATOR).await
}
