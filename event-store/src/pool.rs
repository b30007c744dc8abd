//! How a store's own connection pool hands out connections.

use std::time::Duration;

use sqlx::pool::PoolOptions;
use sqlx::{Connection, Database};

/// The `tracing` target of sqlx's event after each acquire from a pool, at TRACE: its field
/// [`ACQUIRED_AFTER_FIELD`] is the seconds the acquire took. A layer listening to it (the
/// server's metrics) measures the pool's waits; with nothing listening it costs a level check.
pub const ACQUIRE_EVENT_TARGET: &str = "sqlx::pool::acquire";
/// The field of [`ACQUIRE_EVENT_TARGET`]'s event holding the seconds an acquire took, spelt as
/// sqlx spells it.
pub const ACQUIRED_AFTER_FIELD: &str = "aquired_after_secs";

/// How loudly sqlx reports a statement that ran over a second or an acquire of a connection
/// that waited over two (its thresholds).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SlowLogs {
    /// At WARN, sqlx's default: in a server a slow statement is news.
    #[default]
    Warn,
    /// At DEBUG: a command that reads the whole log (replay, reconcile) runs long statements
    /// by design, and its output is its report, not sqlx's warnings.
    Debug,
}

impl SlowLogs {
    pub(crate) fn level(self) -> log::LevelFilter {
        match self {
            Self::Warn => log::LevelFilter::Warn,
            Self::Debug => log::LevelFilter::Debug,
        }
    }
}

/// sqlx's threshold of a slow statement, kept as it is: only its level changes.
pub(crate) const SLOW_STATEMENT_MS: u64 = 1_000;

/// A pooled connection idle for longer than this is checked with one round trip before it is
/// handed out.
pub(crate) const IDLE_CHECK_AFTER: Duration = Duration::from_secs(30);

/// Pool options that check a connection only after it sat idle ([`IDLE_CHECK_AFTER`]). sqlx's
/// default checks every connection on every acquire: one extra round trip per statement, a
/// fifth of the server's round trips to PostgreSQL under load. A connection that broke while
/// in use fails its statement as it would anyway. Every acquire reports how long it took
/// ([`ACQUIRE_EVENT_TARGET`]).
pub(crate) fn checked_when_idle<DB: Database>() -> PoolOptions<DB> {
    PoolOptions::<DB>::new()
        .test_before_acquire(false)
        .acquire_time_level(log::LevelFilter::Trace)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for >= IDLE_CHECK_AFTER {
                    conn.ping().await?;
                }
                Ok(true)
            })
        })
}
