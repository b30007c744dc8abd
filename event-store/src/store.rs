//! One event-store API over the PostgreSQL and SQLite backends.

use std::collections::HashMap;
use std::sync::Arc;

use cqrs_es::persist::{
    EventUpcaster, PersistedEventRepository, PersistenceError, SerializedEvent,
};
use cqrs_es::{Aggregate, DomainEvent};
use serde_json::Value;
use sqlx::{PgPool, SqlitePool};

use crate::pool::SlowLogs;
use crate::postgres::{EventRow, PostgresBackend};
use crate::read_event::ReadEvent;
use crate::sqlite::SqliteBackend;
use crate::{AppendError, AppendObserver, EventMetadata, StoreError};

/// An aggregate rebuilt from its stream.
#[derive(Clone, Debug)]
pub struct Loaded<A> {
    /// The state after applying every event of the stream.
    pub aggregate: A,
    /// The stream's version: its number of events (0 for a stream that does not exist).
    pub version: u64,
}

/// The result of a successful append.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Appended {
    /// The stream's version after the append.
    pub version: u64,
}

/// How an append failed, before the log is asked whether it was a duplicate.
enum FailedAppend {
    /// A unique index refused it: the stream's version, or its dedup key.
    Collision,
    /// An error that may hide a dedup-key collision (sqlite-es does not say).
    MaybeDuplicate(StoreError),
    /// The store failed.
    Store(StoreError),
}

/// The stored sequence of the `index`-th event appended at `expected_version`.
fn sequence_at(expected_version: u64, index: usize) -> Result<i64, StoreError> {
    i64::try_from(expected_version + 1 + index as u64)
        .map_err(|_| StoreError::Corrupt(format!("version {expected_version} out of range")))
}

pub(crate) enum Backend {
    Postgres(PostgresBackend),
    Sqlite(SqliteBackend),
}

/// The event log: cheap to clone, shared by every part of a process.
#[derive(Clone)]
pub struct EventStore {
    pub(crate) backend: Arc<Backend>,
    upcasters: Arc<Vec<Box<dyn EventUpcaster>>>,
    pub(crate) slots: Arc<crate::slots::Slots>,
    pub(crate) tail: Arc<crate::tail::Tail>,
    pub(crate) fresh: Arc<crate::fresh::Fresh>,
    observer: Option<Arc<dyn AppendObserver>>,
}

impl std::fmt::Debug for EventStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventStore")
            .field("backend", &self.backend_name())
            .field("upcasters", &self.upcasters.len())
            .finish()
    }
}

/// Connections a PostgreSQL store's own pool opens at most, unless told otherwise
/// ([`EventStore::connect_with_pool`]).
pub const POSTGRES_POOL_CONNECTIONS_DEFAULT: u32 = 32;

impl EventStore {
    /// Connects to `postgres://…` (or `postgresql://…`) or `sqlite:…` (the file is created if
    /// missing). Does not migrate: call [`EventStore::migrate`].
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with_pool(url, POSTGRES_POOL_CONNECTIONS_DEFAULT).await
    }

    /// [`EventStore::connect`], with a PostgreSQL pool of at most `postgres_max_connections`
    /// (at least 1); SQLite's pool keeps its own size.
    pub async fn connect_with_pool(
        url: &str,
        postgres_max_connections: u32,
    ) -> Result<Self, StoreError> {
        Self::connect_with_logs(url, postgres_max_connections, SlowLogs::Warn).await
    }

    /// [`EventStore::connect_with_pool`], with sqlx's reports of slow statements and slow
    /// acquires at the level `slow` says.
    pub async fn connect_with_logs(
        url: &str,
        postgres_max_connections: u32,
        slow: SlowLogs,
    ) -> Result<Self, StoreError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::from_backend(Backend::Postgres(
                PostgresBackend::connect(url, postgres_max_connections.max(1), slow).await?,
            )))
        } else if url.starts_with("sqlite:") {
            Ok(Self::from_backend(Backend::Sqlite(
                SqliteBackend::connect(url, slow).await?,
            )))
        } else {
            Err(StoreError::UnsupportedUrl(url.to_owned()))
        }
    }

    /// A store on an existing PostgreSQL pool.
    pub fn postgres(pool: PgPool) -> Self {
        Self::from_backend(Backend::Postgres(PostgresBackend::new(pool)))
    }

    /// A store on an existing SQLite pool.
    pub fn sqlite(pool: SqlitePool) -> Self {
        Self::from_backend(Backend::Sqlite(SqliteBackend::new(pool)))
    }

    fn from_backend(backend: Backend) -> Self {
        Self {
            backend: Arc::new(backend),
            upcasters: Arc::new(Vec::new()),
            slots: Arc::default(),
            tail: Arc::default(),
            fresh: Arc::default(),
            observer: None,
        }
    }

    /// `observer` is told of every append this store (and every clone made after this call)
    /// commits, before the append returns.
    #[must_use]
    pub fn with_append_observer(mut self, observer: Arc<dyn AppendObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Upcasters applied to every event read back, in order: old payload versions are
    /// converted on read, never rewritten in the log.
    #[must_use]
    pub fn with_upcasters(mut self, upcasters: Vec<Box<dyn EventUpcaster>>) -> Self {
        self.upcasters = Arc::new(upcasters);
        // what the tail and the fresh states kept was read with the other upcasters
        self.tail = Arc::default();
        self.fresh = Arc::new(crate::fresh::Fresh::new(self.fresh.bound()));
        self
    }

    /// How far behind the log a state served by [`load_many_fresh`](Self::load_many_fresh)
    /// may be (100 ms unless set; zero: always read).
    #[must_use]
    pub fn with_staleness_bound(mut self, bound: std::time::Duration) -> Self {
        self.fresh = Arc::new(crate::fresh::Fresh::new(bound));
        self
    }

    /// `"postgres"` or `"sqlite"`.
    pub fn backend_name(&self) -> &'static str {
        match &*self.backend {
            Backend::Postgres(_) => "postgres",
            Backend::Sqlite(_) => "sqlite",
        }
    }

    /// The PostgreSQL pool, when this store runs on PostgreSQL.
    pub fn postgres_pool(&self) -> Option<&PgPool> {
        match &*self.backend {
            Backend::Postgres(b) => Some(&b.pool),
            Backend::Sqlite(_) => None,
        }
    }

    /// The SQLite pool, when this store runs on SQLite.
    pub fn sqlite_pool(&self) -> Option<&SqlitePool> {
        match &*self.backend {
            Backend::Postgres(_) => None,
            Backend::Sqlite(b) => Some(&b.pool),
        }
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        match &*self.backend {
            Backend::Postgres(b) => {
                sqlx::query("SELECT 1").execute(&b.pool).await?;
            }
            Backend::Sqlite(b) => {
                sqlx::query("SELECT 1").execute(&b.pool).await?;
            }
        }
        Ok(())
    }

    /// Applies the migrator of this store's backend: a schema assembled from the crates that
    /// own its tables (`command_api::MIGRATOR` for the whole system, ADR 34).
    pub async fn migrate(
        &self,
        postgres: &sqlx::migrate::Migrator,
        sqlite: &sqlx::migrate::Migrator,
    ) -> Result<(), StoreError> {
        match &*self.backend {
            Backend::Postgres(b) => postgres.run(&b.pool).await?,
            Backend::Sqlite(b) => sqlite.run(&b.pool).await?,
        }
        Ok(())
    }

    /// Rebuilds an aggregate from its stream (read through the cqrs-es repository, upcast).
    pub async fn load<A: Aggregate>(&self, aggregate_id: &str) -> Result<Loaded<A>, StoreError> {
        let events = match &*self.backend {
            Backend::Postgres(b) => b.repo.get_events::<A>(aggregate_id).await?,
            Backend::Sqlite(b) => b.repo.get_events::<A>(aggregate_id).await?,
        };
        let mut aggregate = A::default();
        let mut version = 0;
        for event in events {
            let event = self.upcast(event);
            version = event.sequence as u64;
            aggregate.apply(serde_json::from_value::<A::Event>(event.payload)?);
        }
        Ok(Loaded { aggregate, version })
    }

    /// Rebuilds several aggregates of one type in one read of the log; a stream without events
    /// is left out of the answer.
    pub async fn load_many<A: Aggregate>(
        &self,
        aggregate_ids: &[&str],
    ) -> Result<HashMap<String, Loaded<A>>, StoreError> {
        let ids = serde_json::to_string(aggregate_ids)?;
        let events = match &*self.backend {
            Backend::Postgres(b) => b.read_streams(A::TYPE, &ids).await?,
            Backend::Sqlite(b) => b.read_streams(A::TYPE, &ids).await?,
        };
        let mut loaded: HashMap<String, Loaded<A>> = HashMap::new();
        for event in self.upcast_read(events)? {
            let stream = loaded
                .entry(event.aggregate_id.clone())
                .or_insert_with(|| Loaded {
                    aggregate: A::default(),
                    version: 0,
                });
            stream.version = event.sequence;
            stream.aggregate.apply(event.decode::<A::Event>()?);
        }
        Ok(loaded)
    }

    /// The version of each of `A`'s streams `aggregate_ids` in the log (0 for a stream
    /// without events), in one read: whether states kept here are still the log's.
    pub async fn stream_versions<A: Aggregate>(
        &self,
        aggregate_ids: &[&str],
    ) -> Result<HashMap<String, u64>, StoreError> {
        let ids = serde_json::to_string(aggregate_ids)?;
        let versions = match &*self.backend {
            Backend::Postgres(b) => b.stream_versions(A::TYPE, &ids).await?,
            Backend::Sqlite(b) => b.stream_versions(A::TYPE, &ids).await?,
        };
        Ok(versions.into_iter().collect())
    }

    /// Brings `loaded` up to date: applies the events appended after its version (by this or
    /// any other process). Cheap when there are none: one indexed read.
    pub async fn catch_up<A: Aggregate>(
        &self,
        aggregate_id: &str,
        loaded: &mut Loaded<A>,
    ) -> Result<(), StoreError> {
        let after = usize::try_from(loaded.version)
            .map_err(|_| StoreError::Corrupt(format!("version {}", loaded.version)))?;
        let events = match &*self.backend {
            Backend::Postgres(b) => b.repo.get_last_events::<A>(aggregate_id, after).await?,
            Backend::Sqlite(b) => b.repo.get_last_events::<A>(aggregate_id, after).await?,
        };
        for event in events {
            let event = self.upcast(event);
            loaded.version = event.sequence as u64;
            loaded
                .aggregate
                .apply(serde_json::from_value::<A::Event>(event.payload)?);
        }
        Ok(())
    }

    /// Appends `events` as one command at `expected_version` (the version the caller loaded),
    /// atomically: all or nothing.
    ///
    /// When the stream has moved on, [`AppendError::Conflict`]. When `metadata` carries a dedup
    /// key that a command in this stream already used, [`AppendError::Duplicate`] with that
    /// command's events. An empty `events` writes nothing.
    pub async fn append<A: Aggregate>(
        &self,
        aggregate_id: &str,
        expected_version: u64,
        events: &[A::Event],
        metadata: &EventMetadata,
    ) -> Result<Appended, AppendError> {
        if events.is_empty() {
            return Ok(Appended {
                version: expected_version,
            });
        }
        match self
            .write_commands::<A>(aggregate_id, expected_version, &[(events, metadata)])
            .await
        {
            Ok(()) => Ok(Appended {
                version: expected_version + events.len() as u64,
            }),
            Err(failed) => Err(self
                .classify_failed_append(A::TYPE, aggregate_id, expected_version, metadata, failed)
                .await),
        }
    }

    /// Appends the events of several commands, in order, at `expected_version`, atomically: all
    /// of them or none. Each command keeps its own metadata (dedup key, actor, ...). When the
    /// stream has moved on or a dedup key was used before, [`AppendError::Conflict`]: the
    /// caller's state is behind the log, and it decides again on a fresh one.
    pub async fn append_commands<A: Aggregate>(
        &self,
        aggregate_id: &str,
        expected_version: u64,
        commands: &[(&[A::Event], &EventMetadata)],
    ) -> Result<Appended, AppendError> {
        let count: usize = commands.iter().map(|(events, _)| events.len()).sum();
        if count == 0 {
            return Ok(Appended {
                version: expected_version,
            });
        }
        match self
            .write_commands::<A>(aggregate_id, expected_version, commands)
            .await
        {
            Ok(()) => Ok(Appended {
                version: expected_version + count as u64,
            }),
            Err(FailedAppend::Collision | FailedAppend::MaybeDuplicate(_)) => {
                Err(AppendError::Conflict {
                    aggregate_type: A::TYPE.to_owned(),
                    aggregate_id: aggregate_id.to_owned(),
                    expected_version,
                })
            }
            Err(FailedAppend::Store(err)) => Err(AppendError::Store(err)),
        }
    }

    /// Writes the commands' events at consecutive sequences after `expected_version`.
    async fn write_commands<A: Aggregate>(
        &self,
        aggregate_id: &str,
        expected_version: u64,
        commands: &[(&[A::Event], &EventMetadata)],
    ) -> Result<(), FailedAppend> {
        self.write_events::<A>(aggregate_id, expected_version, commands)
            .await?;
        let count: usize = commands.iter().map(|(events, _)| events.len()).sum();
        self.fresh
            .written(A::TYPE, aggregate_id, expected_version + count as u64);
        if let Some(observer) = &self.observer {
            observer.appended(A::TYPE, aggregate_id);
        }
        Ok(())
    }

    async fn write_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
        expected_version: u64,
        commands: &[(&[A::Event], &EventMetadata)],
    ) -> Result<(), FailedAppend> {
        // (sequence offset, index within its command, event, the command's metadata)
        let events = commands
            .iter()
            .flat_map(|(events, metadata)| {
                events
                    .iter()
                    .enumerate()
                    .map(move |(index, event)| (index, event, *metadata))
            })
            .enumerate();
        match &*self.backend {
            Backend::Postgres(b) => {
                let gene = crate::fences::gene_column(crate::gene_of_stream(A::TYPE, aggregate_id))
                    .map_err(FailedAppend::Store)?;
                let rows = events
                    .map(|(offset, (index, event, metadata))| {
                        Ok(EventRow {
                            aggregate_type: A::TYPE.to_owned(),
                            aggregate_id: aggregate_id.to_owned(),
                            sequence: sequence_at(expected_version, offset)?,
                            event_type: event.event_type(),
                            event_version: event.event_version(),
                            payload: serde_json::to_string(event)?,
                            metadata: metadata.to_stored_text(index),
                            gene,
                        })
                    })
                    .collect::<Result<Vec<_>, StoreError>>()
                    .map_err(FailedAppend::Store)?;
                b.append(rows).await.map_err(|err| match &err {
                    sqlx::Error::Database(db) if db.is_unique_violation() => {
                        FailedAppend::Collision
                    }
                    _ => FailedAppend::Store(crate::fences::moved(err)),
                })
            }
            Backend::Sqlite(b) => {
                let serialized = events
                    .map(|(offset, (index, event, metadata))| {
                        Ok(SerializedEvent::new(
                            aggregate_id.to_owned(),
                            (expected_version as usize) + 1 + offset,
                            A::TYPE.to_owned(),
                            event.event_type(),
                            event.event_version(),
                            serde_json::to_value(event)?,
                            metadata.to_stored(index),
                        ))
                    })
                    .collect::<Result<Vec<_>, serde_json::Error>>()
                    .map_err(|err| FailedAppend::Store(err.into()))?;
                let written = b.repo.persist::<A>(&serialized, None).await;
                if written.is_ok() {
                    b.notify_appended();
                }
                written.map_err(|err| match err {
                    PersistenceError::OptimisticLockError => FailedAppend::Collision,
                    // sqlite-es reports the dedup index's violation as an unknown error
                    other => FailedAppend::MaybeDuplicate(other.into()),
                })
            }
        }
    }

    /// A failed append is a duplicate when the log holds a command with its dedup key, else a
    /// version conflict when a unique index refused it: the log itself says which it was.
    async fn classify_failed_append(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
        expected_version: u64,
        metadata: &EventMetadata,
        failed: FailedAppend,
    ) -> AppendError {
        if let Some(key) = &metadata.dedup_key {
            match self.find_command(aggregate_type, aggregate_id, key).await {
                Ok(Some(original)) => {
                    return AppendError::Duplicate {
                        dedup_key: key.clone(),
                        original,
                    };
                }
                Ok(None) => {}
                Err(lookup) => return AppendError::Store(lookup),
            }
        }
        match failed {
            FailedAppend::Collision => AppendError::Conflict {
                aggregate_type: aggregate_type.to_owned(),
                aggregate_id: aggregate_id.to_owned(),
                expected_version,
            },
            FailedAppend::MaybeDuplicate(err) | FailedAppend::Store(err) => AppendError::Store(err),
        }
    }

    fn upcast(&self, event: SerializedEvent) -> SerializedEvent {
        self.upcasters.iter().fold(event, |event, upcaster| {
            if upcaster.can_upcast(&event.event_type, &event.event_version) {
                upcaster.upcast(event)
            } else {
                event
            }
        })
    }

    /// Upcasts read events whose payloads are still their stored text: a payload is parsed only
    /// when an upcaster applies to its event's type and version.
    pub(crate) fn upcast_read<E: ReadEvent>(
        &self,
        mut events: Vec<E>,
    ) -> Result<Vec<E>, StoreError> {
        for event in &mut events {
            let (event_type, event_version, payload) = event.upcastable();
            if self
                .upcasters
                .iter()
                .any(|upcaster| upcaster.can_upcast(event_type, event_version))
            {
                let upcast = self.upcast(SerializedEvent::new(
                    String::new(),
                    0,
                    String::new(),
                    std::mem::take(event_type),
                    std::mem::take(event_version),
                    serde_json::from_str(payload)?,
                    Value::Null,
                ));
                *event_type = upcast.event_type;
                *event_version = upcast.event_version;
                event.replace_payload(&upcast.payload)?;
            }
        }
        Ok(events)
    }
}
