//! The `open_reservations` table (migrations 0032 and 0044, ADR 32 and 38): the reservations
//! that no placed order holds yet, by order id and the stream holding them: a SKU's stock, or,
//! for a flash-sale placement, the campaign's bucket and the buyer's claim on the campaign's
//! limit. Kept from the log by [`super::placement::PlacementReactions`]. It answers the two
//! questions the log cannot answer without reading all of it: which streams hold something of
//! an order id (when its placement is rejected), and which reservations have waited too long
//! for an order (the abandoned-placement sweeper).
//!
//! Every statement is one short transaction and idempotent: the reaction handles an event at
//! least once, and several sweepers may run at once.

use cqrs_es::Aggregate;
use domain::{CampaignBucket, CampaignBuyer, Sku};
use event_store::{Db, Pool, StoreError};
use serde::{Deserialize, Serialize};

const ADD_POSTGRES: &str = include_str!("sql/add_postgres.sql");
const ADD_SQLITE: &str = include_str!("sql/add_sqlite.sql");
const REMOVE_POSTGRES: &str = include_str!("sql/remove_postgres.sql");
const REMOVE_SQLITE: &str = include_str!("sql/remove_sqlite.sql");
const REMOVE_ORDERS_POSTGRES: &str = include_str!("sql/remove_orders_postgres.sql");
const REMOVE_ORDERS_SQLITE: &str = include_str!("sql/remove_orders_sqlite.sql");
const OF_ORDERS_POSTGRES: &str = include_str!("sql/of_orders_postgres.sql");
const OF_ORDERS_SQLITE: &str = include_str!("sql/of_orders_sqlite.sql");
const STALE_ORDERS: &str = include_str!("sql/stale_orders.sql");

/// The kind of stream that holds a reservation: its aggregate type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Holder {
    /// Units of a SKU's stock.
    Sku,
    /// Units of a campaign's bucket.
    CampaignBucket,
    /// A claim on a buyer's limit in a campaign.
    CampaignBuyer,
}

impl Holder {
    /// Its aggregate type, as the table stores it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Sku => Sku::TYPE,
            Self::CampaignBucket => CampaignBucket::TYPE,
            Self::CampaignBuyer => CampaignBuyer::TYPE,
        }
    }

    /// The holder of aggregate type `aggregate_type`, if it holds reservations.
    pub fn of_type(aggregate_type: &str) -> Option<Self> {
        [Self::Sku, Self::CampaignBucket, Self::CampaignBuyer]
            .into_iter()
            .find(|holder| holder.as_str() == aggregate_type)
    }
}

/// A reservation that no placed order holds (yet).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OpenReservation {
    /// The order id it was made for (decimal).
    pub order_id: String,
    /// What kind of stream holds it.
    pub holder: Holder,
    /// The stream holding it: the SKU id, [`domain::bucket_stream_id`] or
    /// [`domain::buyer_stream_id`].
    pub stream_id: String,
    /// When it was made (Unix ms).
    pub reserved_at_ms: i64,
}

/// One (order id, stream id) row, as SQLite's removal statement reads it.
#[derive(Serialize)]
struct Pair<'a> {
    order_id: &'a str,
    stream_id: &'a str,
}

/// The `open_reservations` table of the event store's database (of each shard's).
#[derive(Debug, Clone)]
pub struct OpenReservations {
    db: Db,
}

/// The JSON array a statement reads its rows from (`$1`).
fn to_json<T: Serialize + ?Sized>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|err| StoreError::Corrupt(err.to_string()))
}

impl OpenReservations {
    /// The table in `db`'s database; a row lives in its order's database ([`Db::for_order`]),
    /// so that with shards the reaction that follows the SKU's log and the one that follows
    /// the order's meet in the same table.
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// `items` grouped by the database of their order (one group without shards).
    fn by_order<'a, T>(
        &'a self,
        items: &'a [T],
        order_id: impl Fn(&T) -> &str,
    ) -> Vec<(&'a Db, Vec<&'a T>)> {
        let mut groups: Vec<(&Db, Vec<&T>)> = Vec::new();
        for item in items {
            let db = self.db.for_order(order_id(item));
            match groups.iter_mut().find(|(d, _)| std::ptr::eq(*d, db)) {
                Some((_, group)) => group.push(item),
                None => groups.push((db, vec![item])),
            }
        }
        groups
    }

    /// Records `rows` in one statement per database; a row already recorded is kept as it is.
    pub async fn add(&self, rows: &[OpenReservation]) -> Result<(), StoreError> {
        for (db, rows) in self.by_order(rows, |r| r.order_id.as_str()) {
            add(db, &rows).await?;
        }
        Ok(())
    }

    /// Removes the rows of `pairs` (order id, stream id) in one statement per database.
    pub async fn remove(&self, pairs: &[(String, String)]) -> Result<(), StoreError> {
        for (db, pairs) in self.by_order(pairs, |p| p.0.as_str()) {
            remove(db, &pairs).await?;
        }
        Ok(())
    }

    /// Removes every row of `order_ids` in one statement per database.
    pub async fn remove_orders(&self, order_ids: &[String]) -> Result<(), StoreError> {
        for (db, ids) in self.by_order(order_ids, String::as_str) {
            let sql = db
                .dialect()
                .pick(REMOVE_ORDERS_POSTGRES, REMOVE_ORDERS_SQLITE);
            execute(db, sql, to_json(&ids)?).await?;
        }
        Ok(())
    }

    /// The rows of `order_ids`, in one statement per database.
    pub async fn of_orders(
        &self,
        order_ids: &[String],
    ) -> Result<Vec<OpenReservation>, StoreError> {
        let mut rows = Vec::new();
        for (db, ids) in self.by_order(order_ids, String::as_str) {
            rows.extend(of_orders(db, &ids).await?);
        }
        Ok(rows)
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

/// Runs `sql` on the JSON array `rows`.
async fn execute(db: &Db, sql: &str, rows: String) -> Result<(), StoreError> {
    db.query(sql).bind(rows).execute(db).await?;
    Ok(())
}

/// Records `rows` in `db` in one statement.
async fn add(db: &Db, rows: &[&OpenReservation]) -> Result<(), StoreError> {
    match db.pool() {
        // one array a column (add_postgres.sql says why), which SQLite cannot bind
        Pool::Postgres(pool) => {
            sqlx::query(ADD_POSTGRES)
                .bind(rows.iter().map(|r| r.order_id.as_str()).collect::<Vec<_>>())
                .bind(rows.iter().map(|r| r.holder.as_str()).collect::<Vec<_>>())
                .bind(
                    rows.iter()
                        .map(|r| r.stream_id.as_str())
                        .collect::<Vec<_>>(),
                )
                .bind(rows.iter().map(|r| r.reserved_at_ms).collect::<Vec<_>>())
                .execute(pool)
                .await?;
            Ok(())
        }
        Pool::Sqlite(_) => execute(db, ADD_SQLITE, to_json(rows)?).await,
    }
}

/// Removes the rows of `pairs` (order id, stream id) from `db` in one statement.
async fn remove(db: &Db, pairs: &[&(String, String)]) -> Result<(), StoreError> {
    match db.pool() {
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
                .map(|(order_id, stream_id)| Pair {
                    order_id,
                    stream_id,
                })
                .collect();
            execute(db, REMOVE_SQLITE, to_json(&keys)?).await
        }
    }
}

/// The rows of `order_ids` in `db`, in one statement.
async fn of_orders(db: &Db, order_ids: &[&String]) -> Result<Vec<OpenReservation>, StoreError> {
    Ok(db
        .query(db.dialect().pick(OF_ORDERS_POSTGRES, OF_ORDERS_SQLITE))
        .bind(to_json(order_ids)?)
        .fetch_all_with(db, |row| {
            let aggregate_type: String = row.try_get(1)?;
            let holder = Holder::of_type(&aggregate_type).ok_or_else(|| {
                sqlx::Error::Decode(
                    format!("an open reservation held by a {aggregate_type:?}").into(),
                )
            })?;
            Ok(OpenReservation {
                order_id: row.try_get(0)?,
                holder,
                stream_id: row.try_get(2)?,
                reserved_at_ms: row.try_get(3)?,
            })
        })
        .await?)
}
