//! The log's own schema and the one way to join crates' schemas into a migrator (ADR 34).
//!
//! Each crate keeps the migrations of the tables it owns in its own `migrations/` folder; the
//! version numbers are one sequence over all of them, so that the database's `_sqlx_migrations`
//! reads the same whatever crate a file lives in. This crate cannot see the others, so the
//! schema a binary runs is assembled where every owner is visible (command-api).

use std::borrow::Cow;

use sqlx::migrate::Migrator;

/// Migrations of the log on PostgreSQL: postgres-es's tables and our additions (commit order,
/// dedup keys, subscription checkpoints, dead letters). Only the log's tables.
pub static MIGRATOR: Migrator = sqlx::migrate!("migrations/postgres");

/// Migrations of the log on the embedded SQLite store. Only the log's tables.
pub static SQLITE_MIGRATOR: Migrator = sqlx::migrate!("migrations/sqlite");

/// One migrator with the migrations of every set, in version order.
///
/// # Panics
/// When two sets hold the same version: versions are one sequence over every crate, and a
/// database records one checksum per version. A test of the assembled set keeps this from
/// reaching a running binary.
pub fn assemble(sets: &[&Migrator]) -> Migrator {
    let mut migrations: Vec<_> = sets.iter().flat_map(|set| set.iter().cloned()).collect();
    migrations.sort_by_key(|m| m.version);
    if let Some(pair) = migrations.windows(2).find(|p| p[0].version == p[1].version) {
        panic!(
            "migration version {} is claimed twice ({} and {})",
            pair[0].version, pair[0].description, pair[1].description
        );
    }
    Migrator {
        migrations: Cow::Owned(migrations),
        ..Migrator::DEFAULT
    }
}

/// Whether `_sqlx_migrations` exists, on PostgreSQL.
const POSTGRES_HAS_MIGRATIONS: &str = "SELECT to_regclass('_sqlx_migrations') IS NOT NULL";
/// Whether `_sqlx_migrations` exists, on SQLite.
const SQLITE_HAS_MIGRATIONS: &str =
    "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'";
/// The versions applied.
const APPLIED_MIGRATIONS: &str = "SELECT version FROM _sqlx_migrations WHERE success";

/// The versions of the migrations `store` has applied (successfully); none when it was never
/// migrated. Reads `_sqlx_migrations` without creating it, so a role that may only read can
/// ask.
pub async fn applied(store: &crate::EventStore) -> Result<Vec<i64>, crate::StoreError> {
    // one body for both pools: they are different types
    macro_rules! applied_on {
        ($pool:expr, $has:expr) => {{
            let exists: bool = sqlx::query_scalar($has).fetch_one($pool).await?;
            if exists {
                sqlx::query_scalar(APPLIED_MIGRATIONS)
                    .fetch_all($pool)
                    .await?
            } else {
                Vec::new()
            }
        }};
    }
    if let Some(pool) = store.postgres_pool() {
        return Ok(applied_on!(pool, POSTGRES_HAS_MIGRATIONS));
    }
    if let Some(pool) = store.sqlite_pool() {
        return Ok(applied_on!(pool, SQLITE_HAS_MIGRATIONS));
    }
    Ok(Vec::new())
}
