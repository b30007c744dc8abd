//! `orders replay`: rebuilds a projection from position zero into shadow tables while the live
//! ones keep serving, then swaps them in atomically.
//!
//! The swap is one transaction: it sets the live checkpoint to the shadow's and renames the
//! tables. A live runner's batch in flight either committed before (its rows go with the old
//! tables; the checkpoint it wrote is overwritten, so those events are applied again, once, to
//! the new tables) or fails its compare-and-set on the checkpoint after (rolled back and
//! retried from the new checkpoint). Either way every event is in the new tables exactly once.
//!
//! The archive is not rebuilt: the replay rebuilds every order from the log, archived ones
//! too, and the swap keeps each order in one place (`sql/swap_archive.sql`): an archived
//! order stays archived only, unless the log has moved past the archived copy (a late event
//! not applied yet), in which case the rebuilt copy replaces it.

use std::time::Instant;

use event_store::{Checkpoint, EventStore};
use sqlx::Row;

use crate::backend;
use crate::error::ProjectionError;
use crate::projection::{ARCHIVE_TABLE, INIT_CHECKPOINT, Projection, Sql, Tables};
use crate::read_models::{Pool, ReadModels};

/// Events a replay reads and applies per transaction: larger than a live runner's batches,
/// since a replay has no reader waiting for its views, and each batch reads and writes each
/// order it touches once.
pub const REPLAY_BATCH_SIZE: usize = 10_000;

/// How far a replay has got.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    /// Events read so far.
    pub events: u64,
    /// Events in the log when the replay started (more may arrive).
    pub total: u64,
    /// Events per second so far.
    pub events_per_sec: f64,
    /// Seconds still to go at this rate.
    pub eta_secs: f64,
}

/// Rebuilds `projection` into shadow tables and swaps them in, reporting progress after each
/// batch. Returns the number of events replayed.
pub async fn replay(
    store: &EventStore,
    projection: Projection,
    mut progress: impl FnMut(Progress),
) -> Result<u64, ProjectionError> {
    let models = ReadModels::new(store);
    let shadow = match &models.pool {
        Pool::Postgres(_) => Sql::for_tables(&Tables::SHADOW, backend::postgres::DIALECT),
        Pool::Sqlite(_) => Sql::for_tables(&Tables::SHADOW, backend::sqlite::DIALECT),
    };
    let name = projection.replay_checkpoint();
    prepare_shadow(&models.pool, projection, name).await?;
    let total = count_events(&models.pool).await?;
    let started = Instant::now();
    let mut from = Checkpoint::START;
    let mut events = 0u64;
    loop {
        let batch = store.read_after(from, REPLAY_BATCH_SIZE).await?;
        let Some(last) = batch.last() else { break };
        match &models.pool {
            Pool::Postgres(p) => {
                backend::postgres::apply_batch(p, &shadow, projection, name, from, &batch).await?
            }
            Pool::Sqlite(p) => {
                backend::sqlite::apply_batch(p, &shadow, projection, name, from, &batch).await?
            }
        }
        from = last.checkpoint();
        events += batch.len() as u64;
        let rate = events as f64 / started.elapsed().as_secs_f64().max(1e-3);
        progress(Progress {
            events,
            total,
            events_per_sec: rate,
            eta_secs: total.saturating_sub(events) as f64 / rate.max(1e-3),
        });
    }
    swap_in(&models.pool, &shadow, projection, from).await?;
    Ok(events)
}

async fn count_events(pool: &Pool) -> Result<u64, ProjectionError> {
    const COUNT: &str = "SELECT count(*) AS n FROM events";
    let n: i64 = match pool {
        Pool::Postgres(p) => sqlx::query(COUNT).fetch_one(p).await?.try_get("n")?,
        Pool::Sqlite(p) => sqlx::query(COUNT).fetch_one(p).await?.try_get("n")?,
    };
    Ok(u64::try_from(n).unwrap_or(0))
}

fn shadow_of(table: &str) -> String {
    format!("{table}_shadow")
}

/// Fresh, empty shadow tables with the live tables' columns, checks and indexes, and the
/// shadow checkpoint at the start of the log.
async fn prepare_shadow(
    pool: &Pool,
    projection: Projection,
    checkpoint: &str,
) -> Result<(), ProjectionError> {
    const DELETE: &str = "DELETE FROM projection_checkpoints WHERE projection = $1";
    match pool {
        Pool::Postgres(p) => {
            let mut tx = event_store::begin(p).await?;
            // a write first: on SQLite it takes the write lock at once (waiting its turn),
            // where a read first would fail to upgrade once another writer committed
            sqlx::query(DELETE)
                .bind(checkpoint)
                .execute(&mut *tx)
                .await?;
            sqlx::query(INIT_CHECKPOINT)
                .bind(checkpoint)
                .execute(&mut *tx)
                .await?;
            for table in projection.tables() {
                let shadow = shadow_of(table);
                sqlx::query(&format!("DROP TABLE IF EXISTS {shadow}"))
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(&format!(
                    "CREATE TABLE {shadow} (LIKE {table} INCLUDING ALL)"
                ))
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
        }
        Pool::Sqlite(p) => {
            let mut tx = event_store::begin(p).await?;
            // a write first: on SQLite it takes the write lock at once (waiting its turn),
            // where a read first would fail to upgrade once another writer committed
            sqlx::query(DELETE)
                .bind(checkpoint)
                .execute(&mut *tx)
                .await?;
            sqlx::query(INIT_CHECKPOINT)
                .bind(checkpoint)
                .execute(&mut *tx)
                .await?;
            for (n, table) in projection.tables().iter().enumerate() {
                let shadow = shadow_of(table);
                sqlx::query(&format!("DROP TABLE IF EXISTS {shadow}"))
                    .execute(&mut *tx)
                    .await?;
                // the live table's own DDL, renamed; its indexes get fresh names
                let ddl: Vec<(String, String)> = sqlx::query_as(
                    "SELECT type, sql FROM sqlite_master WHERE tbl_name = $1 AND sql IS NOT NULL \
                     ORDER BY type DESC",
                )
                .bind(table)
                .fetch_all(&mut *tx)
                .await?;
                let stamp = chrono::Utc::now().timestamp_micros();
                for (i, (kind, sql)) in ddl.iter().enumerate() {
                    let statement = if kind == "table" {
                        rename_table_ddl(sql, table, &shadow)
                    } else {
                        let on = sql.find(" ON ").ok_or_else(|| {
                            ProjectionError::Corrupt(format!("unexpected index DDL {sql}"))
                        })?;
                        format!(
                            "CREATE INDEX {shadow}_idx_{stamp}_{n}_{i}{}",
                            rename_table_ddl(&sql[on..], table, &shadow)
                        )
                    };
                    sqlx::query(&statement).execute(&mut *tx).await?;
                }
            }
            tx.commit().await?;
        }
    }
    Ok(())
}

/// `CREATE TABLE order_detail (` -> `CREATE TABLE order_detail_shadow (`; ` ON buyer_orders (`
/// likewise: only the first occurrence of the table name followed by a space or `(`.
fn rename_table_ddl(sql: &str, table: &str, shadow: &str) -> String {
    // SQLite quotes the name in the DDL it rewrites on a rename
    let quoted = format!("\"{table}\"");
    if sql.contains(&quoted) {
        return sql.replacen(&quoted, &format!("\"{shadow}\""), 1);
    }
    for suffix in [" (", "(", "\n"] {
        let from = format!("{table}{suffix}");
        if let Some(at) = sql.find(&from) {
            return format!("{}{shadow}{}", &sql[..at], &sql[at + table.len()..]);
        }
    }
    sql.to_owned()
}

/// Swaps the shadow tables in and moves the live checkpoint to the shadow's, atomically.
async fn swap_in(
    pool: &Pool,
    shadow: &Sql,
    projection: Projection,
    at: Checkpoint,
) -> Result<(), ProjectionError> {
    const MOVE: &str = "UPDATE projection_checkpoints SET txid = $2, position = $3 \
                        WHERE projection = $1";
    const DELETE: &str = "DELETE FROM projection_checkpoints WHERE projection = $1";
    let txid = i64::try_from(at.txid)
        .map_err(|_| ProjectionError::Corrupt(format!("txid {}", at.txid)))?;
    // PostgreSQL: every table the swap reads or renames, locked before the archive is read. An
    // archive batch in flight finishes first (its moves are then seen), and none starts until
    // the swap commits. The order is the archiver's: the detail view first.
    let mut lock = projection.tables().to_vec();
    let with_archive = projection == Projection::Orders;
    if with_archive {
        lock.push(ARCHIVE_TABLE);
    }
    let lock = format!("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE", lock.join(", "));
    let mut statements = Vec::new();
    for table in projection.tables() {
        let shadow = shadow_of(table);
        statements.push(format!("ALTER TABLE {table} RENAME TO {table}_retired"));
        statements.push(format!("ALTER TABLE {shadow} RENAME TO {table}"));
        statements.push(format!("DROP TABLE {table}_retired"));
    }
    macro_rules! swap {
        ($pool:expr, $lock:expr) => {{
            let mut tx = event_store::begin(&$pool).await?;
            // the checkpoint row first: a live runner's batch now waits, then fails its
            // compare-and-set and resumes from here on the new tables
            sqlx::query(INIT_CHECKPOINT)
                .bind(projection.name())
                .execute(&mut *tx)
                .await?;
            sqlx::query(MOVE)
                .bind(projection.name())
                .bind(txid)
                .bind(at.position)
                .execute(&mut *tx)
                .await?;
            if let Some(lock) = $lock {
                sqlx::query(lock).execute(&mut *tx).await?;
            }
            if with_archive {
                sqlx::raw_sql(&shadow.swap_archive)
                    .execute(&mut *tx)
                    .await?;
            }
            for statement in &statements {
                sqlx::query(statement).execute(&mut *tx).await?;
            }
            sqlx::query(DELETE)
                .bind(projection.replay_checkpoint())
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        }};
    }
    match pool {
        Pool::Postgres(p) => swap!(p, Some(lock.as_str())),
        // one writing transaction at a time, and this one holds the write lock already
        Pool::Sqlite(p) => swap!(p, None::<&str>),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ddl_is_renamed_once() {
        assert_eq!(
            rename_table_ddl(
                "CREATE TABLE sku_stock\n(\n sku text)",
                "sku_stock",
                "s_shadow"
            ),
            "CREATE TABLE s_shadow\n(\n sku text)"
        );
        assert_eq!(
            rename_table_ddl(" ON buyer_orders (buyer_id)", "buyer_orders", "b_shadow"),
            " ON b_shadow (buyer_id)"
        );
        assert_eq!(
            rename_table_ddl("CREATE TABLE \"sku_stock\"\n(", "sku_stock", "s_shadow"),
            "CREATE TABLE \"s_shadow\"\n("
        );
    }
}
