//! The `open_reservations` table (migration 0032, ADR 32): the stock reservations that no
//! placed order holds yet, by order id and SKU, kept from the log by
//! [`super::placement::PlacementReactions`]. It answers the two questions the log cannot
//! answer without reading all of it: which SKUs an order id holds units of (when its placement
//! is rejected), and which reservations have waited too long for an order (the
//! abandoned-placement sweeper).
//!
//! Every statement is one short transaction and idempotent: the reaction handles an event at
//! least once, and several sweepers may run at once.

use event_store::{EventStore, StoreError};
use serde::Serialize;

const ADD_POSTGRES: &str = include_str!("sql/open_reservations_add_postgres.sql");
const REMOVE_POSTGRES: &str = include_str!("sql/open_reservations_remove_postgres.sql");

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

/// The `open_reservations` table of the event store's database.
#[derive(Debug, Clone)]
pub struct OpenReservations {
    store: EventStore,
}

fn to_json<T: Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|err| StoreError::Corrupt(err.to_string()))
}

impl OpenReservations {
    /// The table in `store`'s database.
    pub fn new(store: EventStore) -> Self {
        Self { store }
    }

    /// Records `rows` in one statement; a row already recorded is kept as it is.
    pub async fn add(&self, rows: &[OpenReservation]) -> Result<(), StoreError> {
        const SQL_LITE: &str = "INSERT INTO open_reservations (order_id, sku, reserved_at_ms) \
             SELECT json_extract(value, '$.order_id'), json_extract(value, '$.sku'), \
                    json_extract(value, '$.reserved_at_ms') \
             FROM json_each(?1) WHERE true \
             ON CONFLICT (order_id, sku) DO NOTHING";
        if rows.is_empty() {
            return Ok(());
        }
        if let Some(pool) = self.store.postgres_pool() {
            sqlx::query(ADD_POSTGRES)
                .bind(rows.iter().map(|r| r.order_id.as_str()).collect::<Vec<_>>())
                .bind(rows.iter().map(|r| r.sku.as_str()).collect::<Vec<_>>())
                .bind(rows.iter().map(|r| r.reserved_at_ms).collect::<Vec<_>>())
                .execute(pool)
                .await?;
        } else if let Some(pool) = self.store.sqlite_pool() {
            sqlx::query(SQL_LITE)
                .bind(to_json(&rows)?)
                .execute(pool)
                .await?;
        }
        Ok(())
    }

    /// Removes the rows of `pairs` (order id, SKU) in one statement.
    pub async fn remove(&self, pairs: &[(String, String)]) -> Result<(), StoreError> {
        const SQL_LITE: &str = "DELETE FROM open_reservations WHERE (order_id, sku) IN \
             (SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') \
              FROM json_each(?1))";
        if pairs.is_empty() {
            return Ok(());
        }
        if let Some(pool) = self.store.postgres_pool() {
            sqlx::query(REMOVE_POSTGRES)
                .bind(pairs.iter().map(|p| p.0.as_str()).collect::<Vec<_>>())
                .bind(pairs.iter().map(|p| p.1.as_str()).collect::<Vec<_>>())
                .execute(pool)
                .await?;
        } else if let Some(pool) = self.store.sqlite_pool() {
            sqlx::query(SQL_LITE)
                .bind(to_json(&pairs)?)
                .execute(pool)
                .await?;
        }
        Ok(())
    }

    /// Removes every row of `order_ids` in one statement.
    pub async fn remove_orders(&self, order_ids: &[String]) -> Result<(), StoreError> {
        const SQL_PG: &str = "DELETE FROM open_reservations WHERE order_id = ANY($1::text[])";
        const SQL_LITE: &str = "DELETE FROM open_reservations \
             WHERE order_id IN (SELECT value FROM json_each(?1))";
        if order_ids.is_empty() {
            return Ok(());
        }
        if let Some(pool) = self.store.postgres_pool() {
            sqlx::query(SQL_PG).bind(order_ids).execute(pool).await?;
        } else if let Some(pool) = self.store.sqlite_pool() {
            sqlx::query(SQL_LITE)
                .bind(to_json(&order_ids)?)
                .execute(pool)
                .await?;
        }
        Ok(())
    }

    /// The rows of `order_ids`, as (order id, SKU) pairs, in one statement.
    pub async fn of_orders(
        &self,
        order_ids: &[String],
    ) -> Result<Vec<(String, String)>, StoreError> {
        const SQL_PG: &str = "SELECT order_id, sku FROM open_reservations \
             WHERE order_id = ANY($1::text[]) ORDER BY order_id, sku";
        const SQL_LITE: &str = "SELECT order_id, sku FROM open_reservations \
             WHERE order_id IN (SELECT value FROM json_each(?1)) ORDER BY order_id, sku";
        if order_ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows = if let Some(pool) = self.store.postgres_pool() {
            sqlx::query_as(SQL_PG)
                .bind(order_ids)
                .fetch_all(pool)
                .await?
        } else if let Some(pool) = self.store.sqlite_pool() {
            sqlx::query_as(SQL_LITE)
                .bind(to_json(&order_ids)?)
                .fetch_all(pool)
                .await?
        } else {
            Vec::new()
        };
        Ok(rows)
    }

    /// Up to `limit` order ids holding a reservation made at or before `before_ms`, oldest
    /// first: the age index finds them without reading the rest of the table.
    pub async fn stale_orders(
        &self,
        before_ms: i64,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        const SQL_PG: &str = "SELECT order_id FROM open_reservations WHERE reserved_at_ms <= $1 \
             GROUP BY order_id ORDER BY min(reserved_at_ms), order_id LIMIT $2";
        const SQL_LITE: &str = "SELECT order_id FROM open_reservations WHERE reserved_at_ms <= ?1 \
             GROUP BY order_id ORDER BY min(reserved_at_ms), order_id LIMIT ?2";
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let ids = if let Some(pool) = self.store.postgres_pool() {
            sqlx::query_scalar(SQL_PG)
                .bind(before_ms)
                .bind(limit)
                .fetch_all(pool)
                .await?
        } else if let Some(pool) = self.store.sqlite_pool() {
            sqlx::query_scalar(SQL_LITE)
                .bind(before_ms)
                .bind(limit)
                .fetch_all(pool)
                .await?
        } else {
            Vec::new()
        };
        Ok(ids)
    }
}
