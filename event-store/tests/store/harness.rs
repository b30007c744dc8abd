//! A fresh store per test on either backend, and the backend-specific moves a test needs:
//! reopening the store (a restart) and holding a writer's transaction open.

use event_store::EventStore;
use serde_json::Value;
use sqlx::{PgPool, Postgres, Sqlite, Transaction};
use tempfile::TempDir;

pub enum Harness {
    Postgres {
        store: EventStore,
        pool: PgPool,
    },
    Sqlite {
        store: EventStore,
        url: String,
        _dir: TempDir,
    },
}

/// A transaction that inserted one event and has not committed.
pub enum HeldWriter {
    Postgres(Transaction<'static, Postgres>),
    Sqlite(Transaction<'static, Sqlite>),
}

impl HeldWriter {
    pub async fn commit(self) {
        match self {
            Self::Postgres(tx) => tx.commit().await.unwrap(),
            Self::Sqlite(tx) => tx.commit().await.unwrap(),
        }
    }
}

const INSERT_PG: &str = "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, \
     event_version, payload, metadata) VALUES ($1, $2, $3, $4, $5, $6, '{}')";
const INSERT_SQLITE: &str = "INSERT INTO events (aggregate_type, aggregate_id, sequence, \
     event_type, event_version, payload, metadata) VALUES (?, ?, ?, ?, ?, ?, '{}')";

impl Harness {
    pub fn postgres(pool: PgPool) -> Self {
        Self::Postgres {
            store: EventStore::postgres(pool.clone()),
            pool,
        }
    }

    pub async fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite:{}", dir.path().join("events.db").display());
        let store = EventStore::connect(&url).await.unwrap();
        store
            .migrate(&event_store::MIGRATOR, &event_store::SQLITE_MIGRATOR)
            .await
            .unwrap();
        Self::Sqlite {
            store,
            url,
            _dir: dir,
        }
    }

    pub fn store(&self) -> &EventStore {
        match self {
            Self::Postgres { store, .. } | Self::Sqlite { store, .. } => store,
        }
    }

    /// A new store on the same database, as after a process restart.
    pub async fn reopen(&self) -> EventStore {
        match self {
            Self::Postgres { pool, .. } => {
                let fresh = PgPool::connect_with(pool.connect_options().as_ref().clone())
                    .await
                    .unwrap();
                EventStore::postgres(fresh)
            }
            Self::Sqlite { url, .. } => EventStore::connect(url).await.unwrap(),
        }
    }

    /// Closes the store's pool: every later read of the database fails. The pool is closed
    /// at once; connections in use (a subscription's LISTEN) close when they are dropped.
    pub fn close(&self) {
        match self {
            Self::Postgres { pool, .. } => drop(pool.close()),
            Self::Sqlite { store, .. } => drop(store.sqlite_pool().unwrap().close()),
        }
    }

    /// Inserts one `Counter` event with a raw payload in a transaction left open.
    pub async fn hold_writer(
        &self,
        id: &str,
        sequence: i64,
        event_version: &str,
        payload: Value,
    ) -> HeldWriter {
        match self {
            Self::Postgres { pool, .. } => {
                let mut tx = pool.begin().await.unwrap();
                // a writer of the log, as the store's appends are (ADR 1)
                sqlx::query("SELECT pg_advisory_xact_lock_shared($1)")
                    .bind(event_store::LOG_WRITER_LOCK)
                    .execute(&mut *tx)
                    .await
                    .unwrap();
                sqlx::query(INSERT_PG)
                    .bind("Counter")
                    .bind(id)
                    .bind(sequence)
                    .bind("Added")
                    .bind(event_version)
                    .bind(payload)
                    .execute(&mut *tx)
                    .await
                    .unwrap();
                HeldWriter::Postgres(tx)
            }
            Self::Sqlite { store, .. } => {
                let pool = store.sqlite_pool().unwrap();
                let mut tx = pool.begin().await.unwrap();
                sqlx::query(INSERT_SQLITE)
                    .bind("Counter")
                    .bind(id)
                    .bind(sequence)
                    .bind("Added")
                    .bind(event_version)
                    .bind(payload.to_string())
                    .execute(&mut *tx)
                    .await
                    .unwrap();
                HeldWriter::Sqlite(tx)
            }
        }
    }

    /// Inserts one `Counter` event with a raw payload and commits it.
    pub async fn insert_raw(&self, id: &str, sequence: i64, event_version: &str, payload: Value) {
        self.hold_writer(id, sequence, event_version, payload)
            .await
            .commit()
            .await;
    }
}
