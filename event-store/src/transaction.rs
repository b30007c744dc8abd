//! Transactions begun so that a cancelled caller cannot leave one open on a pooled connection.
//!
//! sqlx 0.8's `Pool::begin` is not cancel-safe on PostgreSQL: a future dropped while its
//! `BEGIN` is in flight hands the connection back to the pool inside a transaction that
//! nothing rolls back (sqlx issue #4393, in 0.8.6 and 0.9.0). The next borrower's statements
//! then run inside it: an autocommit append is not committed until somebody's later `COMMIT`
//! (which also commits the cancelled caller's half-done work), or is lost when the connection
//! closes. Runners, archivers and request handlers are cancelled (shutdown, aborted tasks,
//! clients that hang up), so every transaction of this workspace starts with [`begin`].

use sqlx::{Database, Pool, Transaction};

/// Begins a transaction on `pool` in a task of its own, which finishes the `BEGIN` whatever
/// happens to the caller: a transaction that nobody receives is dropped, and so rolled back.
pub async fn begin<DB>(pool: &Pool<DB>) -> Result<Transaction<'static, DB>, sqlx::Error>
where
    DB: Database,
{
    let pool = pool.clone();
    tokio::spawn(async move { pool.begin().await })
        .await
        .map_err(|_| sqlx::Error::WorkerCrashed)?
}
