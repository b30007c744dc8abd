//! The embedded SQLite backend: sqlite-es's repository for loads and appends, our SQL for the
//! ordered log, and an in-process signal that wakes subscribers after an append.

use std::str::FromStr;
use std::time::Duration;

use sqlite_es::SqliteEventRepository;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteRow, SqliteSynchronous};
use sqlx::{ConnectOptions, SqlitePool};
use tokio::sync::watch;

use crate::pool::{SLOW_STATEMENT_MS, SlowLogs};
use crate::{Checkpoint, Pending, RecordedEvent, StoreError, StreamEvent};

/// Connections a store opens at most, when it opens its own pool. Writes take turns anyway;
/// readers run in parallel under WAL.
const POOL_CONNECTIONS_MAX: u32 = 8;
/// How long a writer waits for another's write transaction before giving up.
const BUSY_TIMEOUT_MS: u64 = 10_000;

pub(crate) struct SqliteBackend {
    pub(crate) pool: SqlitePool,
    pub(crate) repo: SqliteEventRepository,
    /// Counts appends made through this process; subscribers wait for it to change.
    appended: watch::Sender<u64>,
}

impl SqliteBackend {
    pub(crate) fn new(pool: SqlitePool) -> Self {
        Self {
            repo: SqliteEventRepository::new(pool.clone()),
            pool,
            appended: watch::Sender::new(0),
        }
    }

    /// WAL for concurrent readers; `synchronous = FULL` so that a committed event survives a
    /// power loss, not only a crash of the process.
    pub(crate) async fn connect(url: &str, slow: SlowLogs) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)?
            .log_slow_statements(slow.level(), Duration::from_millis(SLOW_STATEMENT_MS))
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_millis(BUSY_TIMEOUT_MS));
        let pool = crate::pool::checked_when_idle::<sqlx::Sqlite>()
            .acquire_slow_level(slow.level())
            .max_connections(POOL_CONNECTIONS_MAX)
            .connect_with(options)
            .await?;
        Ok(Self::new(pool))
    }

    pub(crate) fn notify_appended(&self) {
        self.appended
            .send_modify(|count| *count = count.wrapping_add(1));
    }

    pub(crate) fn watch_appends(&self) -> watch::Receiver<u64> {
        self.appended.subscribe()
    }

    pub(crate) async fn read_after(
        &self,
        after: Checkpoint,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let rows = sqlx::query(include_str!("read_after.sql"))
            .bind(after.position)
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(recorded).collect()
    }

    pub(crate) async fn pending(&self, after: Checkpoint, max: i64) -> Result<Pending, StoreError> {
        let row = sqlx::query(include_str!("pending.sql"))
            .bind(after.position)
            .bind(max)
            .fetch_one(&self.pool)
            .await?;
        Pending::from_row(&row)
    }

    pub(crate) async fn read_stream(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let rows = sqlx::query(include_str!("read_stream.sql"))
            .bind(aggregate_type)
            .bind(aggregate_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(recorded).collect()
    }

    /// Every event of several streams (`aggregate_ids`: a JSON array), stream by stream.
    pub(crate) async fn read_streams(
        &self,
        aggregate_type: &str,
        aggregate_ids: &str,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let rows = sqlx::query(include_str!("read_streams.sql"))
            .bind(aggregate_type)
            .bind(aggregate_ids)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(recorded).collect()
    }

    /// The version of each of the streams of `aggregate_type` named in `aggregate_ids` (a
    /// JSON array), 0 for a stream without events.
    pub(crate) async fn stream_versions(
        &self,
        aggregate_type: &str,
        aggregate_ids: &str,
    ) -> Result<Vec<(String, u64)>, StoreError> {
        let rows: Vec<(String, Option<i64>)> = sqlx::query_as(include_str!("stream_versions.sql"))
            .bind(aggregate_type)
            .bind(aggregate_ids)
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter()
            .map(|(id, version)| {
                let version = u64::try_from(version.unwrap_or(0)).map_err(|_| {
                    StoreError::Corrupt(format!("stream {id}: a negative sequence"))
                })?;
                Ok((id, version))
            })
            .collect()
    }

    /// The newest event.
    pub(crate) async fn head(&self) -> Result<Option<Checkpoint>, StoreError> {
        let position: Option<i64> = sqlx::query_scalar(include_str!("head.sql"))
            .fetch_optional(&self.pool)
            .await?;
        Ok(position.map(|position| Checkpoint { txid: 0, position }))
    }

    pub(crate) async fn find_command(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
        dedup_key: &str,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let rows = sqlx::query(include_str!("find_command.sql"))
            .bind(aggregate_type)
            .bind(aggregate_id)
            .bind(dedup_key)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(recorded).collect()
    }
}

fn recorded(row: &SqliteRow) -> Result<RecordedEvent, StoreError> {
    RecordedEvent::from_row(row, 0)
}

/// A page of every stream of a type, stream by stream, after `(aggregate_id, sequence)`, of
/// the events at or before `upto`.
pub(crate) async fn read_streams_page(
    pool: &SqlitePool,
    aggregate_type: &str,
    after: (&str, i64),
    upto: Checkpoint,
    limit: i64,
) -> Result<Vec<StreamEvent>, StoreError> {
    let rows = sqlx::query(include_str!("read_streams_page.sql"))
        .bind(aggregate_type)
        .bind(after.0)
        .bind(after.1)
        .bind(upto.position)
        .bind(limit)
        .fetch_all(pool)
        .await?;
    rows.iter().map(StreamEvent::from_row).collect()
}
