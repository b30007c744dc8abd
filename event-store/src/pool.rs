//! How a store's own connection pool hands out connections.

use std::time::Duration;

use sqlx::pool::PoolOptions;
use sqlx::{Connection, Database};

/// A pooled connection idle for longer than this is checked with one round trip before it is
/// handed out.
pub(crate) const IDLE_CHECK_AFTER: Duration = Duration::from_secs(30);

/// Pool options that check a connection only after it sat idle ([`IDLE_CHECK_AFTER`]). sqlx's
/// default checks every connection on every acquire: one extra round trip per statement, a
/// fifth of the server's round trips to PostgreSQL under load. A connection that broke while
/// in use fails its statement as it would anyway.
pub(crate) fn checked_when_idle<DB: Database>() -> PoolOptions<DB> {
    PoolOptions::<DB>::new()
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for >= IDLE_CHECK_AFTER {
                    conn.ping().await?;
                }
                Ok(true)
            })
        })
}
