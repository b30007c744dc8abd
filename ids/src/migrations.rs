//! The tables of id allocation (worker leases and segments), owned here (ADR 34).

use std::sync::LazyLock;

use sqlx::migrate::Migrator;

/// This crate's own migrations on PostgreSQL.
pub static OWN_MIGRATOR: Migrator = sqlx::migrate!("migrations/postgres");

/// This crate's own migrations on SQLite.
pub static OWN_SQLITE_MIGRATOR: Migrator = sqlx::migrate!("migrations/sqlite");

/// What this crate runs on, on PostgreSQL: the log's tables and its own.
pub static MIGRATOR: LazyLock<Migrator> =
    LazyLock::new(|| event_store::migrations::assemble(&[&event_store::MIGRATOR, &OWN_MIGRATOR]));

/// What this crate runs on, on SQLite: the log's tables and its own.
pub static SQLITE_MIGRATOR: LazyLock<Migrator> = LazyLock::new(|| {
    event_store::migrations::assemble(&[&event_store::SQLITE_MIGRATOR, &OWN_SQLITE_MIGRATOR])
});
