//! The `open_reservations` table (migration 0032, ADR 32): the stock reservations that no
//! placed order holds yet, by order id and SKU, kept from the log by
//! [`super::placement::PlacementReactions`]. It answers the two questions the log cannot
//! answer without reading all of it: which SKUs an order id holds units of (when its placement
//! is rejected), and which reservations have waited too long for an order (the
//! abandoned-placement sweeper).
//!
//! Every statement is one short transaction and idempotent: the reaction handles an event at
//! least once, and several sweepers may run at once.

use event_store::{Db, EventStore, Pool, StoreError};
use serde::Serialize;

const ADD_POSTGRES: &str = include_str!("sql/add_postgres.sql");
const ADD_SQLITE: &str = include_str!("sql/add_sqlite.sql");
const REMOVE_POSTGRES: &str = include_str!("sql/remove_postgres.sql");
const REMOVE_SQLITE: &str = include_str!("sql/remove_sqlite.sql");
const REMOVE_ORDERS_POSTGRES: &str = include_str!("sql/remove_orders_postgres.sql");
const REMOVE_ORDERS_SQLITE: &str = include_str!("sql/remove_orders_sqlite.sql");
const OF_ORDERS_POSTGRES: &str = include_str!("sql/of_orders_postgres.sql");
const OF_ORDERS_SQLITE: &str = include_str!("sql/of_orders_sqlite.sql");
const STALE_ORDERS: &str = include_str!("sql/stale_orders.sql");

/// A reservation that no placed order holds (yet).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OpenReservation {
    /// The order id it was made for (decimal).
    pub order_id: String,
    /// The SKU whose units it holds.
    pub sku: String,
    /// When it was made (Unix ms).
    pub reserved_at_ms: i64,
}

/// One (order id, SKU) row, as SQLite's removal statement reads it.
#[derive(Serialize)]
struct Pair<'a> {
    order_id: &'a str,
    sku: &'a str,
}

/// The `open_reservations` table of the event store's database.
#[derive(Debug, Clone)]
pub struct OpenReservations {
    db: Db,
}

/// The JSON array a statement reads its rows from (`$1`).
fn to_json<T: Serialize + ?Sized>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|err| StoreError::Corrupt(err.to_string()))
}

impl OpenReservations {
    /// The table in `store`'s database.
    pub fn new(store: EventStore) -> Self {
        Self { db: store.db() }
    }

    /// Runs `sql` on the JSON array `rows`.
    async fn execute(&self, sql: &str, rows: String) -> Result<(), StoreError> {
        self.db.query(sql).bind(rows).execute(&self.db).await?;
        Ok(())
    }

    /// Records `rows` in one statement; a row already recorded is kept as it is.
    pub async fn add(&self, rows: &[OpenReservation]) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        match self.db.pool() {
            // one array a column (add_postgres.sql says why), which SQLite cannot bind
            Pool::Postgres(pool) => {
                sqlx::query(ADD_POSTGRES)
                    .bind(rows.iter().map(|r| r.order_id.as_str()).collect::<Vec<_>>())
                    .bind(rows.iter().map(|r| r.sku.as_str()).collect::<Vec<_>>())
                    .bind(rows.iter().map(|r| r.reserved_at_ms).collect::<Vec<_>>())
                    .execute(pool)
                    .await?;
                Ok(())
            }
            Pool::Sqlite(_) => self.execute(ADD_SQLITE, to_json(rows)?).await,
        }
    }

    /// Removes the rows of `pairs` (order id, SKU) in one statement.
    pub async fn remove(&self, pairs: &[(String, String)]) -> Result<(), StoreError> {
        if pairs.is_empty() {
            return Ok(());
        }
        match self.db.pool() {
            Pool::Postgres(pool) => {
                sqlx::query(REMOVE_POSTGRES)
                    .bind(pairs.iter().map(|p| p.0.as_str()).collect::<Vec<_>>())
                    .bind(pairs.iter().map(|p| p.1.as_str()).collect::<Vec<_>>())
                    .execute(pool)
                    .await?;
                Ok(())
            }
            Pool::Sqlite(_) => {
                let keys: Vec<Pair<'_>> = pairs
                    .iter()
                    .map(|(order_id, sku)| Pair { order_id, sku })
                    .collect();
                self.execute(REMOVE_SQLITE, to_json(&keys)?).await
            }
        }
    }

    /// Removes every row of `order_ids` in one statement.
    pub async fn remove_orders(&self, order_ids: &[String]) -> Result<(), StoreError> {
        if order_ids.is_empty() {
            return Ok(());
        }
        let sql = self
            .db
            .dialect()
            .pick(REMOVE_ORDERS_POSTGRES, REMOVE_ORDERS_SQLITE);
        self.execute(sql, to_json(order_ids)?).await
    }

    /// The rows of `order_ids`, as (order id, SKU) pairs, in one statement.
    pub async fn of_orders(
        &self,
        order_ids: &[String],
    ) -> Result<Vec<(String, String)>, StoreError> {
        if order_ids.is_empty() {
            return Ok(Vec::new());
        }
        let db = &self.db;
        Ok(db
            .query(db.dialect().pick(OF_ORDERS_POSTGRES, OF_ORDERS_SQLITE))
            .bind(to_json(order_ids)?)
            .fetch_all_with(db, |row| Ok((row.try_get(0)?, row.try_get(1)?)))
            .await?)
    }

    /// Up to `limit` order ids holding a reservation made at or before `before_ms`, oldest
    /// first: the age index finds them without reading the rest of the table.
    pub async fn stale_orders(
        &self,
        before_ms: i64,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        let db = &self.db;
        Ok(db
            .query(STALE_ORDERS)
            .bind(before_ms)
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all_with(db, |row| row.try_get(0))
            .await?)
    }
}
