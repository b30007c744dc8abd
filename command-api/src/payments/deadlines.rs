//! The durable index of payment deadlines (`payment_deadlines`, migration 0020): one row per
//! placed order, pending until a timer fires it or a payment or cancellation settles it.
//!
//! Every statement is one short transaction. A claim marks rows as held until a time; a timer
//! that dies holding them simply lets the claim run out, and another timer takes them over.
//! Both backends run the same statements (through the store's [`Db`]), except three whose
//! dialects truly differ: the claim (`SKIP LOCKED` on PostgreSQL), and the batch insert and
//! settlement (arrays and an index-friendly `ANY` on PostgreSQL, JSON rows on SQLite). A
//! statement about one order goes to that order's database ([`Db::for_order`]); a sweep asks
//! every database ([`Db::every`]).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use event_store::{Db, Pool, StoreError};

const TRADE_NO: &str = include_str!("sql/trade_no.sql");
const NEXT_DUE: &str = include_str!("sql/next_due.sql");
const FINISH: &str = include_str!("sql/finish.sql");
const RETRY_AT: &str = include_str!("sql/retry_at.sql");
const CLAIM_POSTGRES: &str = include_str!("sql/claim_postgres.sql");
const CLAIM_SQLITE: &str = include_str!("sql/claim_sqlite.sql");
const SETTLE_POSTGRES: &str = include_str!("sql/settle_postgres.sql");
const SETTLE_SQLITE: &str = include_str!("sql/settle_sqlite.sql");
const INSERT_POSTGRES: &str = include_str!("sql/insert_postgres.sql");
const INSERT_SQLITE: &str = include_str!("sql/insert_sqlite.sql");

/// A deadline to record for a placed order.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NewDeadline {
    /// The order (decimal id).
    pub order_id: String,
    /// When the order is cancelled unless paid (Unix ms).
    pub due_at_ms: i64,
    /// The payment provider's trade number.
    pub trade_no: String,
    /// What the buyer pays, in cents.
    pub amount_cents: i64,
}

/// A deadline claimed by a timer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedDeadline {
    /// The order (decimal id).
    pub order_id: String,
    /// When it was due (Unix ms).
    pub due_at_ms: i64,
    /// The payment provider's trade number.
    pub trade_no: String,
    /// What the buyer pays, in cents.
    pub amount_cents: i64,
}

/// Trade numbers a process remembers having recorded, at most (the oldest are forgotten).
const RECORDED_TRADES_MAX: usize = 10_000;

/// Trade numbers this process recorded lately: an order's trade number never changes once
/// recorded, so the reactions that need it right after the placement recorded it do not read
/// it back.
#[derive(Debug, Default)]
struct RecordedTrades {
    by_order: HashMap<String, String>,
    oldest_first: VecDeque<String>,
}

impl RecordedTrades {
    fn remember(&mut self, order_id: &str, trade_no: &str) {
        if self
            .by_order
            .insert(order_id.to_owned(), trade_no.to_owned())
            .is_none()
        {
            self.oldest_first.push_back(order_id.to_owned());
        }
        while self.oldest_first.len() > RECORDED_TRADES_MAX {
            if let Some(oldest) = self.oldest_first.pop_front() {
                self.by_order.remove(&oldest);
            }
        }
    }
}

/// The `payment_deadlines` table of the event store's database. Clones share what they
/// remember of recorded trade numbers.
#[derive(Debug, Clone)]
pub struct DeadlineStore {
    db: Db,
    recorded: Arc<Mutex<RecordedTrades>>,
}

impl DeadlineStore {
    /// The table in `db`'s database (each order's row in its order's shard when `db` routes).
    pub fn new(db: Db) -> Self {
        Self {
            db,
            recorded: Arc::default(),
        }
    }

    fn remembered(&self) -> std::sync::MutexGuard<'_, RecordedTrades> {
        self.recorded
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether this process remembers recording `order_id`'s deadline (a `false` says
    /// nothing: another process, or one forgotten since, may have).
    pub fn remembers(&self, order_id: &str) -> bool {
        self.remembered().by_order.contains_key(order_id)
    }

    /// The trade number recorded for `order_id`, if its deadline is recorded.
    pub async fn trade_no(&self, order_id: &str) -> Result<Option<String>, StoreError> {
        if let Some(trade_no) = self.remembered().by_order.get(order_id) {
            return Ok(Some(trade_no.clone()));
        }
        let db = self.db.for_order(order_id);
        let row = db.query(TRADE_NO).bind(order_id).fetch_optional(db).await?;
        Ok(row.map(|row| row.try_get("trade_no")).transpose()?)
    }

    /// Records many deadlines in one statement; a deadline already recorded for its order is
    /// kept as it is. Returns the orders whose deadline this call inserted.
    pub async fn insert_many(&self, deadlines: &[NewDeadline]) -> Result<Vec<String>, StoreError> {
        if deadlines.is_empty() {
            return Ok(Vec::new());
        }
        // one database today; a sharded handle splits the batch by each order's route
        let inserted: Vec<String> = match self.db.pool() {
            // one array a column (insert_postgres.sql says why), which SQLite cannot bind
            Pool::Postgres(pool) => {
                fn column<'a, T>(
                    deadlines: &'a [NewDeadline],
                    field: impl Fn(&'a NewDeadline) -> T,
                ) -> Vec<T> {
                    deadlines.iter().map(field).collect()
                }
                sqlx::query_scalar(INSERT_POSTGRES)
                    .bind(column(deadlines, |d| d.order_id.as_str()))
                    .bind(column(deadlines, |d| d.due_at_ms))
                    .bind(column(deadlines, |d| d.trade_no.as_str()))
                    .bind(column(deadlines, |d| d.amount_cents))
                    .fetch_all(pool)
                    .await?
            }
            Pool::Sqlite(_) => {
                let rows = serde_json::to_string(deadlines)
                    .map_err(|err| StoreError::Corrupt(err.to_string()))?;
                self.db
                    .query(INSERT_SQLITE)
                    .bind(rows)
                    .fetch_all_with(&self.db, |row| row.try_get(0))
                    .await?
            }
        };
        let mut remembered = self.remembered();
        for deadline in deadlines {
            if inserted.contains(&deadline.order_id) {
                remembered.remember(&deadline.order_id, &deadline.trade_no);
            }
        }
        Ok(inserted)
    }

    /// Marks the pending deadlines of `order_ids` done, settled before they fired, in one
    /// statement.
    pub async fn settle_many(&self, order_ids: &[String]) -> Result<(), StoreError> {
        if order_ids.is_empty() {
            return Ok(());
        }
        let ids =
            serde_json::to_string(order_ids).map_err(|err| StoreError::Corrupt(err.to_string()))?;
        let db = &self.db;
        db.query(db.dialect().pick(SETTLE_POSTGRES, SETTLE_SQLITE))
            .bind(ids)
            .execute(db)
            .await?;
        Ok(())
    }

    /// The due time of the earliest pending deadline that no live claim holds at `now_ms`.
    pub async fn next_due_ms(&self, now_ms: i64) -> Result<Option<i64>, StoreError> {
        let mut next: Option<i64> = None;
        for db in self.db.every() {
            let row = db.query(NEXT_DUE).bind(now_ms).fetch_optional(db).await?;
            if let Some(due) = row.map(|row| row.try_get::<i64, _>(0)).transpose()? {
                next = Some(next.map_or(due, |n| n.min(due)));
            }
        }
        Ok(next)
    }

    /// Claims up to `limit` deadlines due at `now_ms`, earliest first, until `until_ms`. No two
    /// callers, in any process, get the same row while its claim lasts.
    pub async fn claim_due(
        &self,
        now_ms: i64,
        until_ms: i64,
        limit: usize,
    ) -> Result<Vec<ClaimedDeadline>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut rows = Vec::new();
        for db in self.db.every() {
            // SKIP LOCKED on PostgreSQL; SQLite's one writer makes a claim exclusive anyway
            let claim = db.dialect().pick(CLAIM_POSTGRES, CLAIM_SQLITE);
            let claimed = db
                .query(claim)
                .bind(now_ms)
                .bind(until_ms)
                .bind(limit)
                .fetch_all_with(db, |row| {
                    Ok(ClaimedDeadline {
                        order_id: row.try_get("order_id")?,
                        due_at_ms: row.try_get("due_at_ms")?,
                        trade_no: row.try_get("trade_no")?,
                        amount_cents: row.try_get("amount_cents")?,
                    })
                })
                .await?;
            rows.extend(claimed);
        }
        rows.sort_by_key(|row| row.due_at_ms);
        Ok(rows)
    }

    /// Marks a pending deadline done with `outcome`, fired at `fired_at_ms` (`None` when it was
    /// settled before it fired). `true` when this call changed it: of two timers firing one
    /// deadline, only one gets `true`.
    pub async fn finish(
        &self,
        order_id: &str,
        fired_at_ms: Option<i64>,
        outcome: &str,
    ) -> Result<bool, StoreError> {
        let db = self.db.for_order(order_id);
        let changed = db
            .query(FINISH)
            .bind(order_id)
            .bind(fired_at_ms)
            .bind(outcome)
            .execute(db)
            .await?;
        Ok(changed == 1)
    }

    /// Holds a claimed deadline until `retry_at_ms`, when a timer tries it again.
    pub async fn retry_at(&self, order_id: &str, retry_at_ms: i64) -> Result<(), StoreError> {
        let db = self.db.for_order(order_id);
        db.query(RETRY_AT)
            .bind(order_id)
            .bind(retry_at_ms)
            .execute(db)
            .await?;
        Ok(())
    }
}
