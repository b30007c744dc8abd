//! The database of the event store that id allocation shares.

use event_store::EventStore;
use sqlx::{PgPool, SqlitePool};

use crate::IdError;

#[derive(Clone, Debug)]
pub(crate) enum Db {
    Postgres(PgPool),
    Sqlite(SqlitePool),
}

impl Db {
    pub(crate) fn of(store: &EventStore) -> Result<Self, IdError> {
        if let Some(pool) = store.postgres_pool() {
            Ok(Self::Postgres(pool.clone()))
        } else if let Some(pool) = store.sqlite_pool() {
            Ok(Self::Sqlite(pool.clone()))
        } else {
            Err(IdError::UnsupportedBackend(store.backend_name()))
        }
    }
}

/// A time or id as PostgreSQL and SQLite store it (neither has unsigned integers).
pub(crate) fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// A stored non-negative integer back.
pub(crate) fn to_u64(value: i64, what: &str) -> Result<u64, IdError> {
    u64::try_from(value).map_err(|_| IdError::Corrupt(format!("{what} {value}")))
}

/// A duration as an SQLite date modifier: `+30.000 seconds`.
pub(crate) fn sqlite_modifier(ms: u64) -> String {
    format!("+{}.{:03} seconds", ms / 1_000, ms % 1_000)
}
