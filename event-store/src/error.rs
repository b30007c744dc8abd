//! Errors of the event store.

use crate::RecordedEvent;

/// A failure to read or write the log.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed or could not be reached.
    #[error("event store database error")]
    Database(#[from] sqlx::Error),
    /// The cqrs-es repository reported a failure.
    #[error("event repository error")]
    Repository(#[from] cqrs_es::persist::PersistenceError),
    /// An event or its metadata could not be (de)serialised.
    #[error("event (de)serialisation failed")]
    Serialization(#[from] serde_json::Error),
    /// A stored row is not what this version of the store expects.
    #[error("unexpected stored data: {0}")]
    Corrupt(String),
    /// Applying the migrations failed.
    #[error("event store migration failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The stream's gene is fenced off this database (ADR 42): its writes are moving to
    /// another shard, from the shard map version named. Nothing was written; the command
    /// belongs on the shard that map version gives the gene.
    #[error("gene {gene} is fenced off this database since shard map version {map_version}")]
    Moved {
        /// The stream's gene.
        gene: u16,
        /// The map version that moves the gene's writes.
        map_version: u64,
    },
    /// The shard map in force puts the stream's gene on a shard this node has no database
    /// for (ADR 42): configuration lacks `--shard NAME=URL` for it.
    #[error(
        "shard map version {map_version} puts gene {gene} on shard {shard}, which is not \
         configured here"
    )]
    UnknownShard {
        /// The shard the map names.
        shard: String,
        /// The stream's gene.
        gene: u16,
        /// The map version that names it.
        map_version: u64,
    },
    /// An operation the embedded SQLite store does not have (it is one shard).
    #[error("not on the embedded SQLite store: {0}")]
    NotOnSqlite(&'static str),
    /// The database URL names no supported backend.
    #[error("unsupported database URL (expected postgres://… or sqlite:…): {0}")]
    UnsupportedUrl(String),
}

impl StoreError {
    /// Whether the database could not be reached or turned the connection away (a lost
    /// connection, a full or closed pool, a server shutting down or refusing connections):
    /// a fault to retry later, not a bug.
    pub fn is_unavailable(&self) -> bool {
        match self {
            Self::Database(err) => unavailable(err),
            Self::Repository(cqrs_es::persist::PersistenceError::ConnectionError(_)) => true,
            Self::Repository(
                cqrs_es::persist::PersistenceError::UnknownError(err)
                | cqrs_es::persist::PersistenceError::DeserializationError(err),
            ) => err.downcast_ref::<sqlx::Error>().is_some_and(unavailable),
            _ => false,
        }
    }
}

/// SQLSTATE classes and codes of a database that cannot serve now: connection exceptions
/// (08), shutdowns and refused connections (57P01-57P03), too many connections (53300), and a
/// database not accepting connections (55000, `ALLOW_CONNECTIONS false`).
const UNAVAILABLE_CODES: [&str; 5] = ["57P01", "57P02", "57P03", "53300", "55000"];

/// Whether `err` is the database being unreachable rather than refusing a statement.
pub fn unavailable(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db
            .code()
            .is_some_and(|code| code.starts_with("08") || UNAVAILABLE_CODES.contains(&&*code)),
        _ => false,
    }
}

/// Why an append did not happen.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    /// A command with this dedup key was already appended to the stream; nothing was written.
    /// Carries the events that command appended, so the caller can answer with the first result.
    #[error("a command with dedup key {dedup_key:?} was already appended")]
    Duplicate {
        /// The key that was used twice.
        dedup_key: String,
        /// The events the first command appended, in order.
        original: Vec<RecordedEvent>,
    },
    /// The stream is no longer at the expected version: another writer appended first.
    #[error("stream {aggregate_type}/{aggregate_id} is no longer at version {expected_version}")]
    Conflict {
        /// Aggregate type of the stream.
        aggregate_type: String,
        /// Aggregate id of the stream.
        aggregate_id: String,
        /// The version the caller expected.
        expected_version: u64,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Displays an error with its whole `source()` chain, for the log: one line with every cause.
pub struct ErrorChain<'a>(pub &'a (dyn std::error::Error + 'static));

impl std::fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}
