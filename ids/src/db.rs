//! What id allocation needs of the event store's database ([`event_store::Db`], shared with
//! every crate that keeps tables there): stored integers and durations in each dialect.

use event_store::{Dialect, Query};

use crate::IdError;

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

/// Binds a lease's time to live as its dialect's statements take it: milliseconds on
/// PostgreSQL, a date modifier on SQLite.
pub(crate) fn bind_ttl(query: Query<'_>, dialect: Dialect, ttl_ms: u64) -> Query<'_> {
    match dialect {
        Dialect::Postgres => query.bind(to_i64(ttl_ms)),
        Dialect::Sqlite => query.bind(sqlite_modifier(ttl_ms)),
    }
}
