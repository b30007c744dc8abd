//! One statement text run on either backend: [`Query`] binds the caller's arguments on the
//! backend it was built for, and runs on the handle's pool or in one of its transactions
//! ([`On`]); rows come back as [`DbRow`], read by column name or index.

use sqlx::postgres::{PgArguments, PgRow};
use sqlx::sqlite::{SqliteArguments, SqliteRow};
use sqlx::{ColumnIndex, Decode, Encode, Postgres, Row, Sqlite, Type};

use super::{Db, DbTx, Dialect, Pool};

/// A statement with its arguments, built by [`Db::query`] or [`DbTx::query`] for that
/// database's backend.
#[must_use = "a query does nothing until it is run"]
pub struct Query<'q>(Inner<'q>);

enum Inner<'q> {
    Postgres(sqlx::query::Query<'q, Postgres, PgArguments>),
    Sqlite(sqlx::query::Query<'q, Sqlite, SqliteArguments<'q>>),
}

/// Where a [`Query`] runs: on a handle's pool (`&db`) or in a transaction (`&mut tx`).
#[derive(Debug)]
pub enum On<'c> {
    /// A connection of the pool, for this one statement.
    Pool(&'c Db),
    /// The transaction.
    Tx(&'c mut DbTx),
}

impl<'c> From<&'c Db> for On<'c> {
    fn from(db: &'c Db) -> Self {
        Self::Pool(db)
    }
}

impl<'c> From<&'c mut DbTx> for On<'c> {
    fn from(tx: &'c mut DbTx) -> Self {
        Self::Tx(tx)
    }
}

/// A query built for one backend run on a handle (or transaction) of the other: a bug.
fn mismatch() -> sqlx::Error {
    sqlx::Error::Configuration("a statement built for one backend was run on the other".into())
}

/// Runs `$body` with the query's backend-typed statement as `$q` and the target's executor
/// (pool or transaction connection) as `$exec`.
macro_rules! dispatch {
    ($query:expr, $on:expr, |$q:ident, $exec:ident| $body:expr) => {
        match ($query, $on) {
            (Inner::Postgres($q), On::Pool(db)) => match db.pool() {
                Pool::Postgres($exec) => $body,
                Pool::Sqlite(_) => Err(mismatch()),
            },
            (Inner::Sqlite($q), On::Pool(db)) => match db.pool() {
                Pool::Sqlite($exec) => $body,
                Pool::Postgres(_) => Err(mismatch()),
            },
            (Inner::Postgres($q), On::Tx(DbTx::Postgres(tx))) => {
                let $exec = &mut **tx;
                $body
            }
            (Inner::Sqlite($q), On::Tx(DbTx::Sqlite(tx))) => {
                let $exec = &mut **tx;
                $body
            }
            (_, On::Tx(_)) => Err(mismatch()),
        }
    };
}

impl<'q> Query<'q> {
    pub(super) fn new(dialect: Dialect, sql: &'q str) -> Self {
        Self(match dialect {
            Dialect::Postgres => Inner::Postgres(sqlx::query(sql)),
            Dialect::Sqlite => Inner::Sqlite(sqlx::query(sql)),
        })
    }

    /// Binds the next `$N` argument: a value both backends encode (text, integers, options of
    /// them, JSON). What only one backend takes (PostgreSQL arrays) belongs in a statement of
    /// that dialect, run on its pool.
    pub fn bind<T>(self, value: T) -> Self
    where
        T: 'q + Encode<'q, Postgres> + Type<Postgres> + Encode<'q, Sqlite> + Type<Sqlite>,
    {
        Self(match self.0 {
            Inner::Postgres(q) => Inner::Postgres(q.bind(value)),
            Inner::Sqlite(q) => Inner::Sqlite(q.bind(value)),
        })
    }

    /// Runs the statement; returns the number of rows it changed.
    pub async fn execute<'c>(self, on: impl Into<On<'c>>) -> Result<u64, sqlx::Error> {
        dispatch!(self.0, on.into(), |q, exec| q
            .execute(exec)
            .await
            .map(|done| done.rows_affected()))
    }

    /// Every row, each read by `read` as it arrives.
    pub async fn fetch_all_with<'c, O, F>(
        self,
        on: impl Into<On<'c>>,
        mut read: F,
    ) -> Result<Vec<O>, sqlx::Error>
    where
        F: FnMut(DbRow) -> Result<O, sqlx::Error> + Send,
        O: Send + Unpin,
    {
        dispatch!(self.0, on.into(), |q, exec| q
            .try_map(|row| read(DbRow::from(row)))
            .fetch_all(exec)
            .await)
    }

    /// Every row.
    pub async fn fetch_all<'c>(self, on: impl Into<On<'c>>) -> Result<Vec<DbRow>, sqlx::Error> {
        self.fetch_all_with(on, Ok).await
    }

    /// The one row, if there is one; more are not read.
    pub async fn fetch_optional<'c>(
        self,
        on: impl Into<On<'c>>,
    ) -> Result<Option<DbRow>, sqlx::Error> {
        dispatch!(self.0, on.into(), |q, exec| q
            .fetch_optional(exec)
            .await
            .map(|row| row.map(DbRow::from)))
    }

    /// The first row; [`sqlx::Error::RowNotFound`] when there is none.
    pub async fn fetch_one<'c>(self, on: impl Into<On<'c>>) -> Result<DbRow, sqlx::Error> {
        dispatch!(self.0, on.into(), |q, exec| q
            .fetch_one(exec)
            .await
            .map(DbRow::from))
    }
}

/// A row of either backend.
pub enum DbRow {
    /// From PostgreSQL.
    Postgres(PgRow),
    /// From SQLite.
    Sqlite(SqliteRow),
}

impl std::fmt::Debug for DbRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let columns = match self {
            Self::Postgres(row) => row.len(),
            Self::Sqlite(row) => row.len(),
        };
        f.debug_struct("DbRow").field("columns", &columns).finish()
    }
}

impl From<PgRow> for DbRow {
    fn from(row: PgRow) -> Self {
        Self::Postgres(row)
    }
}

impl From<SqliteRow> for DbRow {
    fn from(row: SqliteRow) -> Self {
        Self::Sqlite(row)
    }
}

impl DbRow {
    /// The column at `index` (a name, or a position from 0), decoded as `T`.
    pub fn try_get<'r, T, I>(&'r self, index: I) -> Result<T, sqlx::Error>
    where
        T: Decode<'r, Postgres> + Type<Postgres> + Decode<'r, Sqlite> + Type<Sqlite>,
        I: ColumnIndex<PgRow> + ColumnIndex<SqliteRow>,
    {
        match self {
            Self::Postgres(row) => row.try_get(index),
            Self::Sqlite(row) => row.try_get(index),
        }
    }
}
