//! The PostgreSQL backend: postgres-es's repository for loads and appends, our SQL for the
//! ordered log.

use std::net::IpAddr;
use std::str::FromStr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use postgres_es::PostgresEventRepository;
use sqlx::postgres::{PgConnectOptions, PgRow, PgSslMode};
use sqlx::{ConnectOptions, PgPool, Postgres, Row, Transaction};
use tokio::sync::watch;

use crate::pool::{SLOW_STATEMENT_MS, SlowLogs};
use crate::{Checkpoint, Pending, RecordedEvent, StoreError, StreamEvent};

mod group_commit;
mod hints;

pub use group_commit::APPEND_STATEMENT_TIMEOUT_MS;
pub(crate) use group_commit::EventRow;
use group_commit::GroupCommitter;
use hints::{CommitHints, forward_notifications};

const POOL_ACQUIRE_TIMEOUT_MS: u64 = 5_000;

/// The advisory lock every transaction that writes the log on PostgreSQL holds in shared mode,
/// taken before its first write: the readers' horizon (`log_horizon()`, ADR 1) waits for the
/// transactions that hold it and for no other. Anything that inserts into `events` by other
/// means than the store must take it the same way, or a reader may pass its events by while
/// it runs: `SELECT log_append_guard(genes)` first in its transaction takes it and checks the
/// genes' fences (`fences`), as the store's appends do.
pub const LOG_WRITER_LOCK: i64 = 1_330_791_507;

/// The name `declare_streams.sql` gives its cursor (one per transaction).
const STREAMS_CURSOR: &str = "streams";

pub(crate) struct PostgresBackend {
    pub(crate) pool: PgPool,
    pub(crate) repo: PostgresEventRepository,
    /// Started by the first append, on the runtime that makes it.
    committer: OnceLock<GroupCommitter>,
    /// Tells other processes that the log grew; started with the committer.
    hints: OnceLock<CommitHints>,
    /// Counts the commit notifications received on the process's one LISTEN connection,
    /// started by the first subscription; subscribers wait for it to change.
    notified: OnceLock<Arc<watch::Sender<u64>>>,
}

impl PostgresBackend {
    pub(crate) fn new(pool: PgPool) -> Self {
        Self {
            repo: PostgresEventRepository::new(pool.clone()),
            pool,
            committer: OnceLock::new(),
            hints: OnceLock::new(),
            notified: OnceLock::new(),
        }
    }

    /// Changes after each commit notification (and after the LISTEN connection was set up
    /// again, since notifications may have been missed meanwhile). One connection listens for
    /// the whole process, however many subscriptions wait.
    pub(crate) fn watch_commits(&self) -> watch::Receiver<u64> {
        self.notified
            .get_or_init(|| {
                let notified = Arc::new(watch::Sender::new(0));
                tokio::spawn(forward_notifications(
                    self.pool.clone(),
                    Arc::downgrade(&notified),
                ));
                notified
            })
            .subscribe()
    }

    pub(crate) async fn connect(
        url: &str,
        max_connections: u32,
        slow: SlowLogs,
    ) -> Result<Self, StoreError> {
        let options = connect_options(url, std::env::var_os("PGSSLMODE").is_some())?
            .log_slow_statements(slow.level(), Duration::from_millis(SLOW_STATEMENT_MS));
        // one connection first: the pool retries a refused connection until its acquire
        // timeout and then reports only that it timed out, hiding why
        sqlx::Connection::close(
            <sqlx::PgConnection as sqlx::Connection>::connect_with(&options).await?,
        )
        .await?;
        let pool = crate::pool::checked_when_idle::<sqlx::Postgres>()
            .acquire_slow_level(slow.level())
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_millis(POOL_ACQUIRE_TIMEOUT_MS))
            .connect_with(options)
            .await?;
        Ok(Self::new(pool))
    }

    /// Writes one command's events, grouped with other commands' appends (see
    /// [`group_commit`]); returns once they are committed.
    pub(crate) async fn append(&self, rows: Vec<EventRow>) -> Result<(), sqlx::Error> {
        self.committer
            .get_or_init(|| GroupCommitter::start(&self.pool, self.hints().clone()))
            .append(rows)
            .await
    }

    /// The hints of this store's commits (ADR 44), started on the current runtime at the
    /// first call.
    pub(crate) fn hints(&self) -> &CommitHints {
        self.hints.get_or_init(|| CommitHints::start(&self.pool))
    }

    pub(crate) async fn read_after(
        &self,
        after: Checkpoint,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let rows = sqlx::query(include_str!("read_after.sql"))
            .bind(after.txid.to_string())
            .bind(after.position)
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(recorded).collect()
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

    /// How far a reader at `after` is behind, counted up to `max`.
    pub(crate) async fn pending(&self, after: Checkpoint, max: i64) -> Result<Pending, StoreError> {
        let row = sqlx::query(include_str!("pending.sql"))
            .bind(after.txid.to_string())
            .bind(after.position)
            .bind(max)
            .fetch_one(&self.pool)
            .await?;
        Pending::from_row(&row)
    }

    /// See [`crate::EventStore::transaction_ages`].
    pub(crate) async fn transaction_ages(&self) -> Result<crate::TransactionAges, StoreError> {
        let row = sqlx::query(include_str!("transaction_ages.sql"))
            .bind(LOG_WRITER_LOCK)
            .fetch_one(&self.pool)
            .await?;
        Ok(crate::TransactionAges {
            oldest_append_secs: row.try_get("oldest_append_secs")?,
            oldest_writer_secs: row.try_get("oldest_writer_secs")?,
        })
    }

    /// The newest event a reader of the log may see now.
    pub(crate) async fn head(&self) -> Result<Option<Checkpoint>, StoreError> {
        self.newest(include_str!("head.sql")).await
    }

    /// The newest event committed now, past the readers' horizon too.
    pub(crate) async fn last_committed(&self) -> Result<Option<Checkpoint>, StoreError> {
        self.newest(include_str!("last_committed.sql")).await
    }

    /// The one checkpoint `sql` selects (`txid_text`, `position`), if any.
    async fn newest(&self, sql: &str) -> Result<Option<Checkpoint>, StoreError> {
        let row = sqlx::query(sql).fetch_optional(&self.pool).await?;
        row.map(|row| {
            Ok(Checkpoint {
                txid: txid(&row)?,
                position: row.try_get("position")?,
            })
        })
        .transpose()
    }

    /// A transaction holding the cursor [`fetch_streams_cursor`] reads: every stream of
    /// `aggregate_type`, stream by stream, of the events at or before `upto`.
    pub(crate) async fn declare_streams_cursor(
        &self,
        aggregate_type: &str,
        upto: Checkpoint,
    ) -> Result<Transaction<'static, Postgres>, StoreError> {
        let mut tx = crate::begin(&self.pool).await?;
        sqlx::query(include_str!("declare_streams.sql"))
            .bind(aggregate_type)
            .bind(upto.txid.to_string())
            .bind(upto.position)
            .persistent(false)
            .execute(&mut *tx)
            .await?;
        Ok(tx)
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

/// The options of `url`. A server on this machine (loopback or a Unix socket) is reached
/// without TLS unless the URL or `PGSSLMODE` (`env_sslmode`) asks for it: sqlx's default,
/// `prefer`, would encrypt every byte to and from a process on the same host, at a cost in
/// CPU on both ends and no protection gained.
fn connect_options(url: &str, env_sslmode: bool) -> Result<PgConnectOptions, StoreError> {
    // the server's notices (`relation ... already exists, skipping`) are not news to anyone
    // reading the process's output: only warnings and worse are sent
    let options = PgConnectOptions::from_str(url)?.options([("client_min_messages", "warning")]);
    let url_sslmode = url.split_once('?').is_some_and(|(_, query)| {
        query
            .split('&')
            .any(|p| p.starts_with("sslmode=") || p.starts_with("ssl-mode="))
    });
    let host = options.get_host();
    let local = host == "localhost"
        || host.starts_with('/')
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    Ok(if local && !url_sslmode && !env_sslmode {
        options.ssl_mode(PgSslMode::Disable)
    } else {
        options
    })
}

/// The row's transaction id (`txid_text`: an `xid8` read as text).
fn txid(row: &PgRow) -> Result<u64, StoreError> {
    let txid: String = row.try_get("txid_text")?;
    txid.parse()
        .map_err(|_| StoreError::Corrupt(format!("transaction id {txid:?}")))
}

fn recorded(row: &PgRow) -> Result<RecordedEvent, StoreError> {
    RecordedEvent::from_row(row, txid(row)?)
}

/// The next `limit` events of the cursor [`PostgresBackend::declare_streams_cursor`] declared
/// in `tx`.
pub(crate) async fn fetch_streams_cursor(
    tx: &mut Transaction<'static, Postgres>,
    limit: usize,
) -> Result<Vec<StreamEvent>, StoreError> {
    let rows = sqlx::query(&format!("FETCH FORWARD {limit} FROM {STREAMS_CURSOR}"))
        .persistent(false)
        .fetch_all(&mut **tx)
        .await?;
    rows.iter().map(StreamEvent::from_row).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The SQL that takes the lock and the SQL that looks for it name the same one.
    #[test]
    fn the_appends_and_the_horizon_name_the_same_lock() {
        let key = LOG_WRITER_LOCK.to_string();
        assert!(include_str!("insert_events.sql").contains("log_append_guard("));
        assert!(include_str!("../../migrations/postgres/0045_genes_and_fences.sql").contains(&key));
        assert!(include_str!("../../migrations/postgres/0034_log_horizon.sql").contains(&key));
        // in pg_locks the key shows as classid 0 and objid
        assert!(u32::try_from(LOG_WRITER_LOCK).is_ok());
    }

    fn ssl(url: &str, env: bool) -> String {
        format!("{:?}", connect_options(url, env).unwrap().get_ssl_mode())
    }

    #[test]
    fn a_server_on_this_machine_is_reached_without_tls_unless_asked() {
        assert_eq!(ssl("postgres://u@127.0.0.1:5432/db", false), "Disable");
        assert_eq!(ssl("postgres://u@localhost/db", false), "Disable");
        assert_eq!(ssl("postgres://u@[::1]/db", false), "Disable");
        assert_eq!(
            ssl("postgres://u@127.0.0.1/db?sslmode=require", false),
            "Require"
        );
        assert_eq!(
            ssl("postgres://u@127.0.0.1/db", true),
            ssl("postgres://u@db.example/db", true)
        );
        assert_eq!(ssl("postgres://u@db.example/db", false), "Prefer");
    }
}
