//! Per-gene fences (ADR 42): a gene fenced on a database takes no more appends there, because
//! its writes are moving to another shard. Every append checks its genes' fences in its own
//! statement (`log_append_guard`, migration 0045), after taking the log writers' lock; a fence
//! is set, then that lock is taken exclusively once, so that when [`EventStore::fence_gene`]
//! returns no append of the gene can still commit here. PostgreSQL only: the embedded store is
//! one shard.

use sqlx::postgres::PgDatabaseError;

use crate::postgres::LOG_WRITER_LOCK;
use crate::{EventStore, StoreError};

/// The SQLSTATE `log_append_guard` raises for a fenced gene.
const FENCED_SQLSTATE: &str = "OR042";

impl EventStore {
    /// Fences `gene` off this database, for the move that map version `map_version` makes,
    /// and returns once every append that may have passed the check before the fence has
    /// ended: from then on, this database takes nothing more of the gene. Fencing a fenced
    /// gene again keeps its first map version.
    pub async fn fence_gene(&self, gene: u16, map_version: u64) -> Result<(), StoreError> {
        let pool = self
            .postgres_pool()
            .ok_or(StoreError::NotOnSqlite("gene fences"))?;
        let version = i64::try_from(map_version)
            .map_err(|_| StoreError::Corrupt(format!("map version {map_version}")))?;
        sqlx::query(
            "INSERT INTO gene_fences (gene, map_version) VALUES ($1, $2) \
             ON CONFLICT (gene) DO NOTHING",
        )
        .bind(gene_column(gene)?)
        .bind(version)
        .execute(pool)
        .await?;
        appends_in_flight_ended(pool).await
    }

    /// Lifts the fence of `gene` (a move given up, or the gene moving back).
    pub async fn lift_fence(&self, gene: u16) -> Result<(), StoreError> {
        let pool = self
            .postgres_pool()
            .ok_or(StoreError::NotOnSqlite("gene fences"))?;
        sqlx::query("DELETE FROM gene_fences WHERE gene = $1")
            .bind(gene_column(gene)?)
            .execute(pool)
            .await?;
        Ok(())
    }
}

/// Returns once every append running now has ended: an append that read the fences before a
/// fence's insert committed holds the writers' lock until it ends, and waiting for the lock in
/// exclusive mode waits for each of them.
pub(crate) async fn appends_in_flight_ended(pool: &sqlx::PgPool) -> Result<(), StoreError> {
    let mut tx = crate::begin(pool).await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(LOG_WRITER_LOCK)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// `gene` as the `smallint` column holds it.
pub(crate) fn gene_column(gene: u16) -> Result<i16, StoreError> {
    i16::try_from(gene).map_err(|_| StoreError::Corrupt(format!("gene {gene} out of range")))
}

/// `err` as [`StoreError::Moved`] when an append met a fence, else as a database error.
pub(crate) fn moved(err: sqlx::Error) -> StoreError {
    let fenced = match &err {
        sqlx::Error::Database(db) if db.code().as_deref() == Some(FENCED_SQLSTATE) => db
            .try_downcast_ref::<PgDatabaseError>()
            .and_then(PgDatabaseError::detail)
            .and_then(|detail| detail.split_once(' '))
            .and_then(|(gene, version)| Some((gene.parse().ok()?, version.parse().ok()?))),
        _ => None,
    };
    match fenced {
        Some((gene, map_version)) => StoreError::Moved { gene, map_version },
        None => err.into(),
    }
}
