//! [`Db`]: the one handle on the database of the event store, for every crate that keeps
//! tables there (read models, ids, payment deadlines) and for the store itself.
//!
//! PostgreSQL and SQLite run the same statement text wherever their SQL agrees: sqlx binds
//! `$N` parameters by number on both (sqlx-sqlite reads a `$N` parameter's name as its
//! argument's index), so a statement is written once, in `$N` form, and [`Db::query`] runs it on
//! whichever backend the handle holds, with the caller's arguments bound as they are (no copy,
//! no conversion). Where the dialects truly differ (row locks, time functions, arrays against
//! JSON rows, COPY), the caller picks its text by [`Db::dialect`] ([`Dialect::pick`]), or, for
//! what only one backend can do, reaches the pool or the transaction itself.
//!
//! The handle is also where a row's database is chosen: [`Db::route`] (with
//! [`Db::for_order`], [`Db::for_buyer`], [`Db::for_sku`]) answers the database that holds a
//! key's rows, and [`Db::every`] every database, for sweeps. On one database they all answer
//! it; with shards, the shard map is plugged in here ([`Db::routed`]), and callers that route
//! stay as they are.

mod query;
mod route;

use std::sync::Arc;

use sqlx::{PgPool, Postgres, Sqlite, SqlitePool, Transaction};

use crate::EventStore;
use crate::store::Backend;

pub use query::{DbRow, On, Query};
pub use route::{Key, Routes};

/// The SQL dialect of a database: where the two backends' statements differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// PostgreSQL.
    Postgres,
    /// SQLite.
    Sqlite,
}

impl Dialect {
    /// `postgres` on PostgreSQL, `sqlite` on SQLite: the one of two texts (or values) that
    /// differ by dialect.
    pub fn pick<T>(self, postgres: T, sqlite: T) -> T {
        match self {
            Self::Postgres => postgres,
            Self::Sqlite => sqlite,
        }
    }

    /// `"postgres"` or `"sqlite"`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Postgres => "postgres",
            Self::Sqlite => "sqlite",
        }
    }
}

/// The connection pool of one database, for what only one backend can do.
#[derive(Debug, Clone)]
pub enum Pool {
    /// A PostgreSQL database.
    Postgres(PgPool),
    /// An SQLite file.
    Sqlite(SqlitePool),
}

/// A handle on a database of the event store: cheap to clone (its pool is shared).
#[derive(Debug, Clone)]
pub struct Db {
    pool: Pool,
    /// The other databases a key may route to (the shards, ADR 42); `None`: every key is
    /// this database's.
    routes: Option<Arc<dyn Routes>>,
}

impl Db {
    /// A handle on `pool`'s database.
    pub fn new(pool: Pool) -> Self {
        Self { pool, routes: None }
    }

    /// This database's dialect.
    pub fn dialect(&self) -> Dialect {
        match &self.pool {
            Pool::Postgres(_) => Dialect::Postgres,
            Pool::Sqlite(_) => Dialect::Sqlite,
        }
    }

    /// The pool itself, for a statement only one backend can run.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// The PostgreSQL pool, when this is a PostgreSQL database.
    pub fn postgres(&self) -> Option<&PgPool> {
        match &self.pool {
            Pool::Postgres(pool) => Some(pool),
            Pool::Sqlite(_) => None,
        }
    }

    /// `sql` (in `$N` form) with no arguments bound yet, to run on this database or in one of
    /// its transactions.
    pub fn query<'q>(&self, sql: &'q str) -> Query<'q> {
        Query::new(self.dialect(), sql)
    }

    /// Begins a transaction, cancel-safely ([`crate::begin`]).
    pub async fn begin(&self) -> Result<DbTx, sqlx::Error> {
        Ok(match &self.pool {
            Pool::Postgres(pool) => DbTx::Postgres(crate::begin(pool).await?),
            Pool::Sqlite(pool) => DbTx::Sqlite(crate::begin(pool).await?),
        })
    }
}

/// A transaction on a [`Db`]; dropped without [`DbTx::commit`], it rolls back.
#[derive(Debug)]
pub enum DbTx {
    /// On PostgreSQL.
    Postgres(Transaction<'static, Postgres>),
    /// On SQLite.
    Sqlite(Transaction<'static, Sqlite>),
}

impl DbTx {
    /// The transaction's dialect.
    pub fn dialect(&self) -> Dialect {
        match self {
            Self::Postgres(_) => Dialect::Postgres,
            Self::Sqlite(_) => Dialect::Sqlite,
        }
    }

    /// `sql` with no arguments bound yet, to run in this transaction (`.execute(&mut tx)`).
    pub fn query<'q>(&self, sql: &'q str) -> Query<'q> {
        Query::new(self.dialect(), sql)
    }

    /// Runs `sql`, which may hold several statements and takes no arguments.
    pub async fn execute_script(&mut self, sql: &str) -> Result<(), sqlx::Error> {
        match self {
            Self::Postgres(tx) => sqlx::raw_sql(sql).execute(&mut **tx).await.map(drop),
            Self::Sqlite(tx) => sqlx::raw_sql(sql).execute(&mut **tx).await.map(drop),
        }
    }

    /// Commits.
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        match self {
            Self::Postgres(tx) => tx.commit().await,
            Self::Sqlite(tx) => tx.commit().await,
        }
    }
}

impl EventStore {
    /// The handle on this store's database, for the tables other crates keep there.
    pub fn db(&self) -> Db {
        Db::new(match &*self.backend {
            Backend::Postgres(b) => Pool::Postgres(b.pool.clone()),
            Backend::Sqlite(b) => Pool::Sqlite(b.pool.clone()),
        })
    }
}

#[cfg(test)]
mod tests;
