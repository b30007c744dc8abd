//! `orders replay`: rebuilds a projection from the log into shadow tables while the live
//! ones keep serving, then swaps them in atomically.
//!
//! The rebuild reads the log as it stood when the replay began (up to its head,
//! [`EventStore::head`]), stream by stream rather than in commit order: each stream folds on
//! its own into the one row it leaves in its view, so a stream is read once, its row written
//! once, and only one stream's state is held at a time. The work is a pipeline: a task reads
//! pages of the log, the caller folds them, and writers put each page's finished rows into the
//! shadow detail (or stock) view in a transaction of their own, on PostgreSQL by COPY with two
//! writers on two connections. On PostgreSQL the detail view is indexed only at the end (its
//! key, and the buyer's and the seller's lists, ADR 13), the indexes built at once.
//!
//! While the rebuild writes, the replay's checkpoint row holds a claim, a token of this run,
//! and every write holds the claim (a shared row lock on PostgreSQL). A second replay that
//! starts over the same shadow tables resets the row once the writes in flight end, and this
//! one's next write, fill or swap then fails instead of swapping in tables half-written by
//! both; the swap deletes the row.
//!
//! The swap is one transaction: it sets the live checkpoint to the head and renames the
//! tables, and on PostgreSQL the rebuilt indexes take the names of the ones they replace, so
//! the names the migrations gave stay, replay after replay (SQLite's rebuilt indexes keep
//! names of their own: it cannot rename an index). A live runner's batch in flight either
//! committed before (its rows go with the old tables; the checkpoint it wrote is overwritten,
//! so those events are applied again, once, to the new tables) or fails its compare-and-set on
//! the checkpoint after (rolled back and retried from the new checkpoint). Either way every
//! event is in the new tables exactly once.
//!
//! The archive is not rebuilt: the replay rebuilds every order from the log, archived ones
//! too, and the swap keeps each order in one place (`sql/swap_archive.sql`): an archived
//! order stays archived only, unless the log has moved past the archived copy (a late event
//! not applied yet), in which case the rebuilt copy replaces it.

use std::collections::HashMap;
use std::time::Instant;

use event_store::follower::Superseded;
use event_store::{Checkpoint, Db, DbTx, Dialect, EventStore, StoreError, StreamEvent};
use tokio::sync::mpsc;

use crate::error::ProjectionError;
use crate::projection::{ARCHIVE_TABLE, INIT_CHECKPOINT, Projection, Sql, Tables};
use crate::read_models::ReadModels;
use crate::rebuild::{OrderStream, Rows, StockStream, StreamState, Streams, joined};
use crate::writes;

/// Events a replay reads per page; the streams a page finishes are written in one
/// transaction.
pub const REPLAY_PAGE_EVENTS: usize = 10_000;

/// Pages read ahead of the fold, and writes queued behind it per writer.
const PIPELINE_DEPTH: usize = 2;

/// Writers of a replay on PostgreSQL, each a COPY at a time on a connection of its own.
const REPLAY_WRITERS: usize = 2;

/// What a replay is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Reading the log and writing each stream's row.
    Reading,
    /// Indexing the rebuilt views (on PostgreSQL: the detail view's key and lists).
    Indexing,
    /// Swapping the rebuilt tables in.
    Swapping,
}

/// How far a replay has got.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    /// What it is doing.
    pub stage: Stage,
    /// Events read so far.
    pub events: u64,
    /// Events of the projection's streams in the log when the replay started.
    pub total: u64,
    /// Events per second so far.
    pub events_per_sec: f64,
    /// Seconds still to go at this rate.
    pub eta_secs: f64,
}

/// Rebuilds `projection` into shadow tables and swaps them in, reporting progress after each
/// page. Returns the number of events replayed.
pub async fn replay(
    store: &EventStore,
    projection: Projection,
    progress: impl FnMut(Progress),
) -> Result<u64, ProjectionError> {
    replay_in_pages(store, projection, REPLAY_PAGE_EVENTS, progress).await
}

/// [`replay`], reading `page_events` events per page.
pub async fn replay_in_pages(
    store: &EventStore,
    projection: Projection,
    page_events: usize,
    mut progress: impl FnMut(Progress),
) -> Result<u64, ProjectionError> {
    let db = ReadModels::new(store).db;
    let shadow = Sql::shadow(db.dialect());
    let name = projection.replay_checkpoint();
    let Prepared {
        claim,
        indexes,
        constraints,
        renames,
    } = prepare_shadow(&db, projection, name).await?;
    let head = store.head().await?;
    let total = count_events(&db, projection.aggregate_type()).await?;

    let (pages_in, mut pages) = mpsc::channel(PIPELINE_DEPTH);
    let reader = tokio::spawn(read_pages(
        store.clone(),
        projection.aggregate_type(),
        head,
        page_events.max(1),
        pages_in,
    ));
    // PostgreSQL runs each writer's COPY in a backend of its own; SQLite has one writer
    let writers = db.dialect().pick(REPLAY_WRITERS, 1);
    let (rows_in, writers): (Vec<_>, Vec<_>) = (0..writers)
        .map(|_| {
            let (rows_in, rows) = mpsc::channel(PIPELINE_DEPTH);
            let writer = tokio::spawn(write_rows(db.clone(), shadow, name, claim, rows));
            (rows_in, writer)
        })
        .unzip();
    let started = Instant::now();
    let mut report = |stage: Stage, events: u64| {
        let rate = events as f64 / started.elapsed().as_secs_f64().max(1e-3);
        progress(Progress {
            stage,
            events,
            total,
            events_per_sec: rate,
            eta_secs: total.saturating_sub(events) as f64 / rate.max(1e-3),
        });
    };
    let folded = match projection {
        Projection::Orders => {
            fold::<OrderStream>(&mut pages, &rows_in, Rows::Orders, &mut report).await
        }
        Projection::Stock => {
            fold::<StockStream>(&mut pages, &rows_in, Rows::Stock, &mut report).await
        }
    };
    drop(rows_in);
    drop(pages);
    let mut written = Ok(());
    for writer in writers {
        let outcome = joined(writer.await).and_then(|w| w);
        written = written.and(outcome);
    }
    joined(reader.await)?;
    let events = folded?;
    written?;
    report(Stage::Indexing, events);

    if let Some(p) = db.postgres() {
        // each index in a transaction of its own, all at once; then the constraints that
        // adopt them, which lock the table
        let builds = indexes.into_iter().map(|index| vec![index]).collect();
        writes::replay_fill(p, name, claim, builds).await?;
        if !constraints.is_empty() {
            writes::replay_fill(p, name, claim, vec![constraints]).await?;
        }
    }
    report(Stage::Swapping, events);
    swap_in(&db, shadow, projection, claim, head, &renames).await?;
    Ok(events)
}

/// Reads the pages of every stream of `aggregate_type` up to `head` into `pages`, until the
/// last, a failed read (sent on as the last page), or the fold stops listening.
async fn read_pages(
    store: EventStore,
    aggregate_type: &'static str,
    head: Checkpoint,
    page_events: usize,
    pages: mpsc::Sender<Result<Vec<StreamEvent>, StoreError>>,
) {
    let mut read = match store
        .read_streams_pages(aggregate_type, head, page_events)
        .await
    {
        Ok(read) => read,
        Err(e) => {
            // nobody listening: the fold has stopped with an error of its own
            let _ = pages.send(Err(e)).await;
            return;
        }
    };
    loop {
        let page = match read.next_page().await {
            Ok(page) if page.is_empty() => return,
            Ok(page) => page,
            Err(e) => {
                let _ = pages.send(Err(e)).await;
                return;
            }
        };
        if pages.send(Ok(page)).await.is_err() {
            return;
        }
    }
}

/// Folds the pages, sending each page's finished rows to the writers in turn; returns the
/// number of events folded. Stops early when a writer has (its error is the answer).
async fn fold<S: StreamState>(
    pages: &mut mpsc::Receiver<Result<Vec<StreamEvent>, StoreError>>,
    writers: &[mpsc::Sender<Rows>],
    wrap: fn(Vec<S::Row>) -> Rows,
    report: &mut impl FnMut(Stage, u64),
) -> Result<u64, ProjectionError> {
    let mut streams = Streams::<S>::default();
    let mut events = 0u64;
    let mut sent = 0usize;
    while let Some(page) = pages.recv().await {
        let page = page?;
        events += page.len() as u64;
        for event in page {
            streams.apply(event)?;
        }
        let finished = streams.take_finished();
        if !finished.is_empty() {
            sent += 1;
            if writers[sent % writers.len()]
                .send(wrap(finished))
                .await
                .is_err()
            {
                return Ok(events);
            }
        }
        report(Stage::Reading, events);
    }
    let last = streams.finish()?;
    if !last.is_empty() {
        // a writer that stopped has its error to give
        let _ = writers[(sent + 1) % writers.len()].send(wrap(last)).await;
    }
    Ok(events)
}

/// Writes each batch of rows in a transaction of its own that holds the replay's claim.
async fn write_rows(
    db: Db,
    shadow: &'static Sql,
    name: &'static str,
    claim: i64,
    mut rows: mpsc::Receiver<Rows>,
) -> Result<(), ProjectionError> {
    while let Some(batch) = rows.recv().await {
        writes::replay_write(&db, shadow, name, claim, &batch).await?;
    }
    Ok(())
}

async fn count_events(db: &Db, aggregate_type: &str) -> Result<u64, ProjectionError> {
    const COUNT: &str = "SELECT count(*) AS n FROM events WHERE aggregate_type = $1";
    let row = db.query(COUNT).bind(aggregate_type).fetch_one(db).await?;
    let n: i64 = row.try_get("n")?;
    Ok(u64::try_from(n).unwrap_or(0))
}

fn shadow_of(table: &str) -> String {
    format!("{table}_shadow")
}

/// What [`prepare_shadow`] leaves to do.
struct Prepared {
    /// The token of this run in the replay's checkpoint row: `(claim, 0)`.
    claim: i64,
    /// PostgreSQL: the shadow detail view's indexes, built once it is written.
    indexes: Vec<String>,
    /// PostgreSQL: its key and unique constraints, each adopting an index of `indexes`.
    constraints: Vec<String>,
    /// PostgreSQL: each shadow index's name, and the name of the live index of its shape,
    /// which it takes when it is swapped in.
    renames: Vec<(String, String)>,
}

/// Fresh, empty shadow tables with the live tables' columns, checks and indexes, and the
/// replay's checkpoint row claimed for this run.
///
/// On PostgreSQL the detail view's shadow starts without its indexes, keys included: COPY
/// fills it, and an index built over a full table costs far less than one grown row by row.
async fn prepare_shadow(
    db: &Db,
    projection: Projection,
    checkpoint: &str,
) -> Result<Prepared, ProjectionError> {
    // one statement, so that replays starting at once take turns on the row instead of both
    // finding it missing
    const CLAIM: &str = "INSERT INTO projection_checkpoints (projection, txid, position) \
                         VALUES ($1, $2, 0) \
                         ON CONFLICT (projection) DO UPDATE SET txid = $2, position = 0";
    // a token of this run, no other run's
    let claim = chrono::Utc::now().timestamp_micros();
    let mut prepared = Prepared {
        claim,
        indexes: Vec::new(),
        constraints: Vec::new(),
        renames: Vec::new(),
    };
    let mut tx = db.begin().await?;
    // a write first: on PostgreSQL it waits for another replay's writes in flight (they hold
    // the row's claim); on SQLite it takes the write lock at once (waiting its turn), where a
    // read first would fail to upgrade once another writer committed
    tx.query(CLAIM)
        .bind(checkpoint)
        .bind(claim)
        .execute(&mut tx)
        .await?;
    for (n, table) in projection.tables().iter().enumerate() {
        let shadow = shadow_of(table);
        let drop = format!("DROP TABLE IF EXISTS {shadow}");
        tx.query(&drop).execute(&mut tx).await?;
        // the catalogues differ, and so does what a shadow table starts with
        match &mut tx {
            DbTx::Postgres(pg) => postgres_shadow(pg, table, &shadow, &mut prepared).await?,
            DbTx::Sqlite(lite) => sqlite_shadow(lite, table, &shadow, n).await?,
        }
    }
    tx.commit().await?;
    Ok(prepared)
}

/// PostgreSQL: `shadow` as `table` with its columns and checks; the detail view's without its
/// indexes and keys, which `prepared` records to build once it is filled.
async fn postgres_shadow(
    tx: &mut sqlx::Transaction<'static, sqlx::Postgres>,
    table: &str,
    shadow: &str,
    prepared: &mut Prepared,
) -> Result<(), ProjectionError> {
    sqlx::query(&format!(
        "CREATE TABLE {shadow} (LIKE {table} INCLUDING ALL)"
    ))
    .execute(&mut **tx)
    .await?;
    prepared
        .renames
        .extend(live_names(tx, shadow, table).await?);
    if table != Tables::LIVE.detail {
        return Ok(());
    }
    // a key or unique constraint, with the definition of the index it owns
    let keys: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT c.conname::text, c.contype::text, \
                pg_get_indexdef(c.conindid) \
         FROM pg_constraint c \
         WHERE c.conrelid = CAST($1 AS regclass) AND c.contype IN ('p', 'u')",
    )
    .bind(shadow)
    .fetch_all(&mut **tx)
    .await?;
    for (name, kind, index) in keys {
        sqlx::query(&format!("ALTER TABLE {shadow} DROP CONSTRAINT {name}"))
            .execute(&mut **tx)
            .await?;
        // built as a unique index (of the constraint's name) at once with the others, then
        // adopted
        prepared.indexes.push(index);
        let kind = if kind == "p" { "PRIMARY KEY" } else { "UNIQUE" };
        prepared.constraints.push(format!(
            "ALTER TABLE {shadow} ADD CONSTRAINT {name} {kind} USING INDEX {name}"
        ));
    }
    let plain: Vec<(String, String)> = sqlx::query_as(
        "SELECT indexname::text, indexdef FROM pg_indexes \
         WHERE schemaname = current_schema() AND tablename = $1",
    )
    .bind(shadow)
    .fetch_all(&mut **tx)
    .await?;
    for (name, definition) in plain {
        sqlx::query(&format!("DROP INDEX {name}"))
            .execute(&mut **tx)
            .await?;
        prepared.indexes.push(definition);
    }
    Ok(())
}

/// SQLite: `shadow` from the live table's own DDL, renamed; its indexes get fresh names (the
/// `n`-th table of the projection).
async fn sqlite_shadow(
    tx: &mut sqlx::Transaction<'static, sqlx::Sqlite>,
    table: &str,
    shadow: &str,
    n: usize,
) -> Result<(), ProjectionError> {
    let ddl: Vec<(String, String)> = sqlx::query_as(
        "SELECT type, sql FROM sqlite_master WHERE tbl_name = $1 AND sql IS NOT NULL \
         ORDER BY type DESC",
    )
    .bind(table)
    .fetch_all(&mut **tx)
    .await?;
    let stamp = chrono::Utc::now().timestamp_micros();
    for (i, (kind, sql)) in ddl.iter().enumerate() {
        let statement = if kind == "table" {
            rename_table_ddl(sql, table, shadow)
        } else {
            let on = sql
                .find(" ON ")
                .ok_or_else(|| ProjectionError::Corrupt(format!("unexpected index DDL {sql}")))?;
            format!(
                "CREATE INDEX {shadow}_idx_{stamp}_{n}_{i}{}",
                rename_table_ddl(&sql[on..], table, shadow)
            )
        };
        sqlx::query(&statement).execute(&mut **tx).await?;
    }
    Ok(())
}

/// Each index of `shadow` (named after it by `LIKE`) with the name of `table`'s index of the
/// same shape, where they differ: the name it takes when swapped in, so that replay after
/// replay the live indexes keep their names.
async fn live_names(
    tx: &mut sqlx::Transaction<'static, sqlx::Postgres>,
    shadow: &str,
    table: &str,
) -> Result<Vec<(String, String)>, ProjectionError> {
    const SAME_SHAPE: &str = "SELECT s.indexname::text, l.indexname::text \
         FROM pg_indexes s JOIN pg_indexes l \
           ON l.schemaname = s.schemaname AND l.tablename = $2 \
          AND substring(l.indexdef from ' USING .*$') = substring(s.indexdef from ' USING .*$') \
          AND (l.indexdef LIKE 'CREATE UNIQUE %') = (s.indexdef LIKE 'CREATE UNIQUE %') \
         WHERE s.schemaname = current_schema() AND s.tablename = $1 \
         ORDER BY s.indexname, l.indexname";
    let pairs: Vec<(String, String)> = sqlx::query_as(SAME_SHAPE)
        .bind(shadow)
        .bind(table)
        .fetch_all(&mut **tx)
        .await?;
    // two indexes of one shape: which is which is unknown, and both keep their new names
    let mut shadows = HashMap::new();
    let mut lives = HashMap::new();
    for (shadow_index, live_index) in &pairs {
        *shadows.entry(shadow_index.as_str()).or_insert(0) += 1;
        *lives.entry(live_index.as_str()).or_insert(0) += 1;
    }
    Ok(pairs
        .iter()
        .filter(|(s, l)| s != l && shadows[s.as_str()] == 1 && lives[l.as_str()] == 1)
        .cloned()
        .collect())
}

/// `CREATE TABLE order_detail (` -> `CREATE TABLE order_detail_shadow (`; ` ON sku_stock (`
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

/// Swaps the shadow tables in and moves the live checkpoint to `at`, the head the rebuild
/// read up to, atomically, if the replay's checkpoint row still holds this run's `claim`.
/// The swapped-in indexes take the names of the live indexes they replace (`renames`).
async fn swap_in(
    db: &Db,
    shadow: &Sql,
    projection: Projection,
    claim: i64,
    at: Checkpoint,
    renames: &[(String, String)],
) -> Result<(), ProjectionError> {
    const MOVE: &str = "UPDATE projection_checkpoints SET txid = $2, position = $3 \
                        WHERE projection = $1";
    // the replay's claim: another replay that started since has reset it, and its tables are
    // not ours to swap in
    const RELEASE: &str = "DELETE FROM projection_checkpoints \
                           WHERE projection = $1 AND txid = $2 AND position = 0";
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
    // the retired tables' indexes are gone with them, and their names free
    for (shadow_index, live_index) in renames {
        statements.push(format!("ALTER INDEX {shadow_index} RENAME TO {live_index}"));
    }
    let mut tx = db.begin().await?;
    // a write first, which takes SQLite's write lock
    let released = tx
        .query(RELEASE)
        .bind(projection.replay_checkpoint())
        .bind(claim)
        .execute(&mut tx)
        .await?;
    if released != 1 {
        return Err(ProjectionError::CheckpointMoved(
            projection.replay_checkpoint(),
            Superseded,
        ));
    }
    // the live checkpoint row next: a live runner's batch now waits, then fails its
    // compare-and-set and resumes from here on the new tables
    tx.query(INIT_CHECKPOINT)
        .bind(projection.name())
        .execute(&mut tx)
        .await?;
    tx.query(MOVE)
        .bind(projection.name())
        .bind(txid)
        .bind(at.position)
        .execute(&mut tx)
        .await?;
    // SQLite runs one writing transaction at a time, and this one holds the write lock already
    if db.dialect() == Dialect::Postgres {
        tx.query(&lock).execute(&mut tx).await?;
    }
    if with_archive {
        tx.execute_script(&shadow.swap_archive).await?;
    }
    for statement in &statements {
        tx.query(statement).execute(&mut tx).await?;
    }
    tx.commit().await?;
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
            rename_table_ddl(" ON order_detail (buyer_id)", "order_detail", "d_shadow"),
            " ON d_shadow (buyer_id)"
        );
        assert_eq!(
            rename_table_ddl("CREATE TABLE \"sku_stock\"\n(", "sku_stock", "s_shadow"),
            "CREATE TABLE \"s_shadow\"\n("
        );
    }
}
