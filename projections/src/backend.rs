//! The read side's statements on each backend. PostgreSQL and SQLite run the same SQL text
//! (both take `$N` parameters); only the pool and transaction types differ, so one macro
//! writes the code for both.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use cqrs_es::Aggregate;
use domain::{Order, OrderEvent, SkuEvent};
use event_store::{Checkpoint, RecordedEvent};

use crate::archive::{ARCHIVE_NAME, ArchiveProgress};
use crate::document::{OrderDocument, micros};
use crate::error::ProjectionError;
use crate::projection::{
    Dialect, INIT_CHECKPOINT, LOAD_CHECKPOINT, Projection, SAVE_CHECKPOINT, STREAM_IDS, Sql,
    StockChange,
};
use crate::rebuild::{Rows, joined};
use crate::rows::OrderRow;

/// An order as a view stores it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredOrder {
    /// The document.
    pub document: OrderDocument,
    /// The content hash stored beside it.
    pub content_hash: String,
    /// The version column.
    pub version: u64,
    /// The list sort key (microseconds since the epoch).
    pub placed_at_us: i64,
}

/// One copy of an order in a view, with the columns that the lists are keyed and filtered by.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderCopy {
    /// The view that holds it: `order_detail` or `order_archive`.
    pub view: String,
    /// The order as stored.
    pub order: StoredOrder,
    /// The buyer column (the buyer's list's key).
    pub buyer_id: String,
    /// The seller column (the seller's list's key).
    pub seller_id: String,
    /// The status column (the lists' filter).
    pub status: String,
}

/// Stock of one SKU as the stock view holds it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct StockRow {
    /// SKU.
    pub sku: String,
    /// Seller id.
    pub seller_id: String,
    /// Units that can be ordered.
    pub available: i64,
    /// Units held by unpaid orders.
    pub reserved: i64,
    /// Units sold.
    pub sold: i64,
    /// Version of the SKU stream this row reflects (its ETag).
    pub version: u64,
}

fn to_i64(value: u64, what: &str) -> Result<i64, ProjectionError> {
    i64::try_from(value).map_err(|_| ProjectionError::Corrupt(format!("{what} {value}")))
}

fn to_u64(value: i64, what: &str) -> Result<u64, ProjectionError> {
    u64::try_from(value).map_err(|_| ProjectionError::Corrupt(format!("{what} {value}")))
}

/// A batch's orders: their states as the views hold them, and the events of the batch folded
/// into them in memory, so that each order is read once and written once per batch.
#[derive(Default)]
struct OrderFold {
    /// Each order's state and version (absent: not in any view).
    states: HashMap<String, (Order, u64)>,
    /// Orders that changed, in the order they first changed, with the time of their last event.
    changed: Vec<String>,
    changed_at: HashMap<String, i64>,
}

impl OrderFold {
    /// Applies `event` to its order's state; an event already applied, or one that leaves the
    /// order without a document (a rejected placement), changes nothing.
    fn apply(&mut self, event: &RecordedEvent) -> Result<(), ProjectionError> {
        let version = self
            .states
            .get(&event.aggregate_id)
            .map_or(0, |(_, version)| *version);
        if event.sequence <= version {
            // the checkpoint makes this impossible; the guard keeps a view from going back
            return Ok(());
        }
        if version > 0 && event.sequence != version + 1 {
            return Err(ProjectionError::Corrupt(format!(
                "order {} is at version {version} in the view but the next event is {}",
                event.aggregate_id, event.sequence
            )));
        }
        let decoded = event.decode::<OrderEvent>()?;
        let (order, at) = self.states.entry(event.aggregate_id.clone()).or_default();
        order.apply(decoded);
        *at = event.sequence;
        if !order.exists() {
            // no document: nothing to show, and nothing kept
            if version == 0 {
                self.states.remove(&event.aggregate_id);
            }
            return Ok(());
        }
        if self
            .changed_at
            .insert(event.aggregate_id.clone(), micros(Some(event.recorded_at)))
            .is_none()
        {
            self.changed.push(event.aggregate_id.clone());
        }
        Ok(())
    }

    /// The changed orders' rows, for the detail view's upsert.
    fn rows(&self) -> Result<Vec<OrderRow>, ProjectionError> {
        let mut rows = Vec::with_capacity(self.changed.len());
        for id in &self.changed {
            let Some((order, version)) = self.states.get(id) else {
                continue;
            };
            let changed_at_us = self.changed_at.get(id).copied().unwrap_or_default();
            rows.extend(OrderRow::of(order, *version, changed_at_us)?);
        }
        Ok(rows)
    }
}

/// The summed deltas of one SKU's events in a batch, when they are all movements in
/// consecutive sequence; `None` when one creates the SKU (or the sequence has a gap), so that
/// they are applied one by one.
fn fold_moves(events: &[&RecordedEvent]) -> Result<Option<(i64, i64, i64)>, ProjectionError> {
    let mut sums = (0, 0, 0);
    for (i, event) in events.iter().enumerate() {
        if i > 0 && event.sequence != events[i - 1].sequence + 1 {
            return Ok(None);
        }
        match StockChange::of(&event.decode::<SkuEvent>()?) {
            StockChange::Created { .. } => return Ok(None),
            StockChange::Moved {
                available,
                reserved,
                sold,
            } => {
                sums.0 += available;
                sums.1 += reserved;
                sums.2 += sold;
            }
        }
    }
    Ok(Some(sums))
}

/// A JSON array of ids, as the `{ids}` statements take them.
fn id_array<'a>(ids: impl IntoIterator<Item = &'a String>) -> Result<String, ProjectionError> {
    Ok(serde_json::to_string(&ids.into_iter().collect::<Vec<_>>())?)
}

/// An order as a view stores it: its document is derived from the stored state at the stored
/// version, by the function that made the content hash (ADR 13).
fn stored_order(
    state: &str,
    content_hash: String,
    version: i64,
    placed_at_us: i64,
) -> Result<StoredOrder, ProjectionError> {
    let version = to_u64(version, "version")?;
    let order: Order = serde_json::from_str(state)?;
    let document = OrderDocument::of(&order, version).ok_or_else(|| {
        ProjectionError::Corrupt(format!(
            "a stored order state at version {version} is no order"
        ))
    })?;
    Ok(StoredOrder {
        document,
        content_hash,
        version,
        placed_at_us,
    })
}

macro_rules! backend {
    (
        $module:ident,
        $db:ty,
        $dialect:expr,
        $upsert_detail:ident,
        $write_detail:ident,
        $move_stocks:ident,
        $claim_check:expr
    ) => {
        pub(crate) mod $module {
            use sqlx::Row;

            use super::*;

            type Pool = sqlx::Pool<$db>;
            type Tx<'a> = sqlx::Transaction<'a, $db>;

            /// This backend's SQL dialect.
            pub(crate) const DIALECT: Dialect = $dialect;

            /// The statements on the live tables, in this backend's dialect.
            pub(crate) fn live() -> &'static Sql {
                Sql::live(DIALECT)
            }

            /// The projection's checkpoint (creating its row at the start of the log).
            pub(crate) async fn load_checkpoint(
                pool: &Pool,
                name: &str,
                create: bool,
            ) -> Result<Checkpoint, ProjectionError> {
                if create {
                    sqlx::query(INIT_CHECKPOINT)
                        .bind(name)
                        .execute(pool)
                        .await?;
                }
                let row = sqlx::query(LOAD_CHECKPOINT)
                    .bind(name)
                    .fetch_one(pool)
                    .await?;
                Ok(Checkpoint {
                    txid: to_u64(row.try_get("txid")?, "checkpoint txid")?,
                    position: row.try_get("position")?,
                })
            }

            /// Applies `events` (read after `from`) and moves the checkpoint past them, in one
            /// transaction: all of the batch takes effect, or none of it.
            pub(crate) async fn apply_batch(
                pool: &Pool,
                sql: &Sql,
                projection: Projection,
                checkpoint_name: &'static str,
                from: Checkpoint,
                events: &[Arc<RecordedEvent>],
            ) -> Result<(), ProjectionError> {
                let Some(last) = events.last() else {
                    return Ok(());
                };
                let to = last.checkpoint();
                let mut tx = event_store::begin(pool).await?;
                // the checkpoint first: on SQLite the first statement takes the write lock, so
                // the transaction never has to upgrade from a read
                move_checkpoint(&mut tx, checkpoint_name, from, to).await?;
                let mine = events
                    .iter()
                    .map(|e| &**e)
                    .filter(|e| e.aggregate_type == projection.aggregate_type());
                match projection {
                    Projection::Orders => apply_orders(&mut tx, sql, mine).await?,
                    Projection::Stock => apply_stocks(&mut tx, sql, mine).await?,
                }
                tx.commit().await?;
                Ok(())
            }

            /// Moves the checkpoint from `from` to `to` with no rows: past a parked event.
            pub(crate) async fn pass(
                pool: &Pool,
                checkpoint_name: &'static str,
                from: Checkpoint,
                to: Checkpoint,
            ) -> Result<(), ProjectionError> {
                let mut tx = event_store::begin(pool).await?;
                move_checkpoint(&mut tx, checkpoint_name, from, to).await?;
                tx.commit().await?;
                Ok(())
            }

            /// Moves a checkpoint from `from` to `to`, or fails: another runner (or replay)
            /// moved it first.
            async fn move_checkpoint(
                tx: &mut Tx<'_>,
                name: &'static str,
                from: Checkpoint,
                to: Checkpoint,
            ) -> Result<(), ProjectionError> {
                let moved = sqlx::query(SAVE_CHECKPOINT)
                    .bind(name)
                    .bind(to_i64(to.txid, "txid")?)
                    .bind(to.position)
                    .bind(to_i64(from.txid, "txid")?)
                    .bind(from.position)
                    .execute(&mut **tx)
                    .await?;
                if moved.rows_affected() != 1 {
                    return Err(ProjectionError::CheckpointMoved(name));
                }
                Ok(())
            }

            /// One write of a replay: `rows` into the empty shadow views, in a transaction
            /// that holds the replay's claim on its checkpoint row (`$claim_check`): one that
            /// another replay has reset since fails, and a reset waits for the writes in
            /// flight.
            pub(crate) async fn replay_write(
                pool: &Pool,
                sql: &Sql,
                checkpoint_name: &'static str,
                claim: i64,
                rows: &Rows,
            ) -> Result<(), ProjectionError> {
                let mut tx = event_store::begin(pool).await?;
                hold_claim(&mut tx, checkpoint_name, claim).await?;
                match rows {
                    Rows::Orders(rows) => super::$write_detail(&mut tx, sql, rows).await?,
                    Rows::Stock(rows) => {
                        sqlx::query(&sql.insert_stock)
                            .bind(serde_json::to_string(rows)?)
                            .execute(&mut *tx)
                            .await?;
                    }
                }
                tx.commit().await?;
                Ok(())
            }

            /// Holds a replay's claim for the transaction, or fails: another replay has
            /// reset it.
            pub(super) async fn hold_claim(
                tx: &mut Tx<'_>,
                checkpoint_name: &'static str,
                claim: i64,
            ) -> Result<(), ProjectionError> {
                let held = sqlx::query($claim_check)
                    .bind(checkpoint_name)
                    .bind(claim)
                    .fetch_optional(&mut **tx)
                    .await?;
                if held.is_none() {
                    return Err(ProjectionError::CheckpointMoved(checkpoint_name));
                }
                Ok(())
            }

            /// Applies a batch's order events: reads every order they touch in one statement
            /// (an order in no hot view is looked for in the archive), folds the events in
            /// memory, and writes each changed order once (the lists are the detail view's
            /// indexes).
            async fn apply_orders<'e>(
                tx: &mut Tx<'_>,
                sql: &Sql,
                events: impl Iterator<Item = &'e RecordedEvent> + Clone,
            ) -> Result<(), ProjectionError> {
                let mut ids: Vec<&String> = Vec::new();
                let mut seen = HashSet::new();
                for event in events.clone() {
                    if seen.insert(&event.aggregate_id) {
                        ids.push(&event.aggregate_id);
                    }
                }
                if ids.is_empty() {
                    return Ok(());
                }
                let mut fold = OrderFold::default();
                read_states(
                    tx,
                    &sql.order_states,
                    &id_array(ids.iter().copied())?,
                    &mut fold,
                )
                .await?;
                let mut archived = HashSet::new();
                if let Some(statement) = &sql.archived_states {
                    // Not hot: archived, if anywhere. A late event brings it back; an event the
                    // archived copy already holds (a replay moved the checkpoint back) changes
                    // nothing. Looked up for a first event too: after a replay's swap an
                    // archived order has no hot row, and its events are applied again.
                    let cold: Vec<&String> = ids
                        .iter()
                        .copied()
                        .filter(|id| !fold.states.contains_key(id.as_str()))
                        .collect();
                    if !cold.is_empty() {
                        archived = read_states(tx, statement, &id_array(cold)?, &mut fold).await?;
                    }
                }
                for event in events {
                    fold.apply(event)?;
                }
                if fold.changed.is_empty() {
                    return Ok(());
                }
                let back: Vec<&String> = fold
                    .changed
                    .iter()
                    .filter(|id| archived.contains(id.as_str()))
                    .collect();
                if !back.is_empty() {
                    // these change again: back to the hot views, in this transaction, so each
                    // is in exactly one place whatever happens
                    sqlx::query(&sql.unarchive)
                        .bind(id_array(back)?)
                        .execute(&mut **tx)
                        .await?;
                }
                super::$upsert_detail(tx, sql, &fold.rows()?).await
            }

            /// Reads `(order_id, version, state)` rows into the fold's states; returns the ids
            /// it found.
            async fn read_states(
                tx: &mut Tx<'_>,
                statement: &str,
                ids: &str,
                fold: &mut OrderFold,
            ) -> Result<HashSet<String>, ProjectionError> {
                let rows = sqlx::query(statement)
                    .bind(ids)
                    .fetch_all(&mut **tx)
                    .await?;
                let mut found = HashSet::with_capacity(rows.len());
                for row in rows {
                    let order_id: String = row.try_get("order_id")?;
                    let state: String = row.try_get("state")?;
                    fold.states.insert(
                        order_id.clone(),
                        (
                            serde_json::from_str::<Order>(&state)?,
                            to_u64(row.try_get("version")?, "version")?,
                        ),
                    );
                    found.insert(order_id);
                }
                Ok(found)
            }

            /// Applies a batch's stock events: each SKU's movements fold into one row, and one
            /// statement moves every SKU of the batch on top of its previous event. A SKU it
            /// does not move (an event applied already, a corrupt view) and a SKU created in
            /// the batch are applied event by event.
            async fn apply_stocks<'e>(
                tx: &mut Tx<'_>,
                sql: &Sql,
                events: impl Iterator<Item = &'e RecordedEvent>,
            ) -> Result<(), ProjectionError> {
                let mut skus: Vec<(&'e str, Vec<&'e RecordedEvent>)> = Vec::new();
                let mut index: HashMap<&'e str, usize> = HashMap::new();
                for event in events {
                    let at = *index.entry(&event.aggregate_id).or_insert_with(|| {
                        skus.push((&event.aggregate_id, Vec::new()));
                        skus.len() - 1
                    });
                    skus[at].1.push(event);
                }
                let mut one_by_one: Vec<&RecordedEvent> = Vec::new();
                let mut folded: Vec<(&str, Vec<&RecordedEvent>)> = Vec::new();
                let mut moves = Vec::new();
                for (sku, sku_events) in skus {
                    match fold_moves(&sku_events)? {
                        Some((available, reserved, sold)) => {
                            let first = sku_events.first().map_or(0, |e| e.sequence);
                            let last = sku_events.last().map_or(0, |e| e.sequence);
                            moves.push(StockMove {
                                sku,
                                available,
                                reserved,
                                sold,
                                from_version: to_i64(first, "sequence")? - 1,
                                version: to_i64(last, "sequence")?,
                            });
                            folded.push((sku, sku_events));
                        }
                        None => one_by_one.extend(sku_events),
                    }
                }
                if !moves.is_empty() {
                    let moved = super::$move_stocks(tx, sql, &moves).await?;
                    for (sku, sku_events) in folded {
                        if !moved.contains(sku) {
                            one_by_one.extend(sku_events);
                        }
                    }
                }
                for event in one_by_one {
                    apply_stock(tx, sql, event).await?;
                }
                Ok(())
            }

            async fn apply_stock(
                tx: &mut Tx<'_>,
                sql: &Sql,
                event: &RecordedEvent,
            ) -> Result<(), ProjectionError> {
                let sequence = to_i64(event.sequence, "sequence")?;
                match StockChange::of(&event.decode::<SkuEvent>()?) {
                    StockChange::Created { seller, available } => {
                        sqlx::query(&sql.stock_created)
                            .bind(&event.aggregate_id)
                            .bind(seller)
                            .bind(available)
                            .bind(sequence)
                            .execute(&mut **tx)
                            .await?;
                    }
                    StockChange::Moved {
                        available,
                        reserved,
                        sold,
                    } => {
                        let moved = sqlx::query(&sql.stock_moved)
                            .bind(&event.aggregate_id)
                            .bind(available)
                            .bind(reserved)
                            .bind(sold)
                            .bind(sequence)
                            .execute(&mut **tx)
                            .await?;
                        if moved.rows_affected() == 0 {
                            let version: Option<i64> = sqlx::query_scalar(&sql.stock_version)
                                .bind(&event.aggregate_id)
                                .fetch_optional(&mut **tx)
                                .await?;
                            // an event at or below the row's version was applied already
                            if version.is_none_or(|v| v < sequence) {
                                return Err(ProjectionError::Corrupt(format!(
                                    "SKU {} is at version {version:?} in the view but the \
                                     next event is {sequence}",
                                    event.aggregate_id
                                )));
                            }
                        }
                    }
                }
                Ok(())
            }

            /// An order from the detail view, else from the archive.
            pub(crate) async fn order_detail(
                pool: &Pool,
                order_id: &str,
            ) -> Result<Option<StoredOrder>, ProjectionError> {
                let row = sqlx::query(&live().order_detail)
                    .bind(order_id)
                    .fetch_optional(pool)
                    .await?;
                row.map(|row| {
                    let state: String = row.try_get("state")?;
                    stored_order(
                        &state,
                        row.try_get("content_hash")?,
                        row.try_get("version")?,
                        0,
                    )
                })
                .transpose()
            }

            /// Every copy of an order, named by the view that holds it.
            pub(crate) async fn order_copies(
                pool: &Pool,
                order_id: &str,
            ) -> Result<Vec<OrderCopy>, ProjectionError> {
                let rows = sqlx::query(&live().order_copies)
                    .bind(order_id)
                    .fetch_all(pool)
                    .await?;
                rows.iter()
                    .map(|row| {
                        let state: String = row.try_get("state")?;
                        Ok(OrderCopy {
                            view: row.try_get("view_name")?,
                            order: stored_order(
                                &state,
                                row.try_get("content_hash")?,
                                row.try_get("version")?,
                                row.try_get("placed_at_us")?,
                            )?,
                            buyer_id: row.try_get("buyer_id")?,
                            seller_id: row.try_get("seller_id")?,
                            status: row.try_get("status")?,
                        })
                    })
                    .collect()
            }

            pub(crate) async fn order_list(
                pool: &Pool,
                statement: fn(&Sql) -> &String,
                owner: &str,
                status: Option<&str>,
                before: (i64, &str),
                limit: i64,
            ) -> Result<Vec<StoredOrder>, ProjectionError> {
                let rows = sqlx::query(statement(live()))
                    .bind(owner)
                    .bind(status)
                    .bind(before.0)
                    .bind(before.1)
                    .bind(limit)
                    .fetch_all(pool)
                    .await?;
                rows.iter()
                    .map(|row| {
                        let state: String = row.try_get("state")?;
                        stored_order(
                            &state,
                            row.try_get("content_hash")?,
                            row.try_get("version")?,
                            row.try_get("placed_at_us")?,
                        )
                    })
                    .collect()
            }

            pub(crate) async fn list_row(
                pool: &Pool,
                statement: fn(&Sql) -> &String,
                owner: &str,
                order_id: &str,
            ) -> Result<Option<StoredOrder>, ProjectionError> {
                let row = sqlx::query(statement(live()))
                    .bind(owner)
                    .bind(order_id)
                    .fetch_optional(pool)
                    .await?;
                row.map(|row| {
                    let state: String = row.try_get("state")?;
                    stored_order(
                        &state,
                        row.try_get("content_hash")?,
                        row.try_get("version")?,
                        row.try_get("placed_at_us")?,
                    )
                })
                .transpose()
            }

            /// The newest version of an owner's order in its list or the archive.
            pub(crate) async fn listed_version(
                pool: &Pool,
                statement: fn(&Sql) -> &String,
                owner: &str,
                order_id: &str,
            ) -> Result<Option<u64>, ProjectionError> {
                let version: Option<i64> = sqlx::query_scalar(statement(live()))
                    .bind(owner)
                    .bind(order_id)
                    .fetch_one(pool)
                    .await?;
                version.map(|v| to_u64(v, "version")).transpose()
            }

            pub(crate) async fn stream_ids(
                pool: &Pool,
                aggregate_type: &str,
                after: &str,
                limit: i64,
            ) -> Result<Vec<String>, ProjectionError> {
                Ok(sqlx::query_scalar(STREAM_IDS)
                    .bind(aggregate_type)
                    .bind(after)
                    .bind(limit)
                    .fetch_all(pool)
                    .await?)
            }

            pub(crate) async fn count_orders(pool: &Pool) -> Result<[i64; 2], ProjectionError> {
                let row = sqlx::query(&live().count_orders).fetch_one(pool).await?;
                Ok([row.try_get("detail")?, row.try_get("archive")?])
            }

            /// One archive batch: up to `batch_size` settled orders whose last change is
            /// before `cutoff_us` move from the hot views to the archive, and the high-water
            /// mark moves with them, in one transaction.
            pub(crate) async fn archive_batch(
                pool: &Pool,
                cutoff_us: i64,
                batch_size: i64,
                now_us: i64,
            ) -> Result<(u64, ArchiveProgress), ProjectionError> {
                let sql = live();
                let mut tx = event_store::begin(pool).await?;
                let row = sqlx::query(&sql.archive_claim)
                    .bind(ARCHIVE_NAME)
                    .bind(now_us)
                    .fetch_one(&mut *tx)
                    .await?;
                let mut progress = ArchiveProgress {
                    changed_at_us: row.try_get("changed_at_us")?,
                    order_id: row.try_get("order_id")?,
                    batches: to_u64(row.try_get("batches")?, "batches")?,
                    orders: to_u64(row.try_get("orders")?, "orders")?,
                };
                let picked: Vec<(String, i64)> = sqlx::query_as(&sql.archive_pick)
                    .bind(cutoff_us)
                    .bind(batch_size)
                    .fetch_all(&mut *tx)
                    .await?;
                let Some((last_id, last_changed)) = picked.last().cloned() else {
                    tx.commit().await?;
                    return Ok((0, progress));
                };
                let ids = serde_json::to_string(
                    &picked.iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>(),
                )?;
                sqlx::query(&sql.archive_copy)
                    .bind(&ids)
                    .bind(now_us)
                    .execute(&mut *tx)
                    .await?;
                let moved = sqlx::query(&sql.archive_drop_detail)
                    .bind(&ids)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if moved != picked.len() as u64 {
                    // the picked rows are locked (or the database is): nothing else removes them
                    return Err(ProjectionError::Corrupt(format!(
                        "picked {} orders to archive but removed {moved}",
                        picked.len()
                    )));
                }
                // the mark only moves forward: an order whose last event committed late can
                // be picked after newer ones
                if (last_changed, last_id.as_str())
                    > (progress.changed_at_us, progress.order_id.as_str())
                {
                    progress.changed_at_us = last_changed;
                    progress.order_id = last_id;
                }
                progress.batches += 1;
                progress.orders += moved;
                sqlx::query(&sql.archive_mark)
                    .bind(ARCHIVE_NAME)
                    .bind(progress.changed_at_us)
                    .bind(&progress.order_id)
                    .bind(to_i64(moved, "moved")?)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok((moved, progress))
            }

            pub(crate) async fn archive_progress(
                pool: &Pool,
            ) -> Result<ArchiveProgress, ProjectionError> {
                let row = sqlx::query(&live().archive_progress)
                    .bind(ARCHIVE_NAME)
                    .fetch_one(pool)
                    .await?;
                Ok(ArchiveProgress {
                    changed_at_us: row.try_get("changed_at_us")?,
                    order_id: row.try_get("order_id")?,
                    batches: to_u64(row.try_get("batches")?, "batches")?,
                    orders: to_u64(row.try_get("orders")?, "orders")?,
                })
            }

            pub(crate) async fn sku_stock(
                pool: &Pool,
                sku: &str,
            ) -> Result<Option<StockRow>, ProjectionError> {
                let row = sqlx::query(&live().sku_stock)
                    .bind(sku)
                    .fetch_optional(pool)
                    .await?;
                row.map(|row| {
                    Ok(StockRow {
                        sku: row.try_get("sku")?,
                        seller_id: row.try_get("seller_id")?,
                        available: row.try_get("available")?,
                        reserved: row.try_get("reserved")?,
                        sold: row.try_get("sold")?,
                        version: to_u64(row.try_get("version")?, "version")?,
                    })
                })
                .transpose()
            }
        }
    };
}

// A replay's claim, held for one write: on PostgreSQL a shared lock on the checkpoint row (the
// replay's writers run at once; a reset waits for them), on SQLite a write, which takes the
// write lock first (one writer at a time).
backend!(
    postgres,
    sqlx::Postgres,
    Dialect::Postgres,
    upsert_detail_columns,
    copy_detail,
    move_stocks_columns,
    "SELECT 1 FROM projection_checkpoints WHERE projection = $1 AND txid = $2 FOR SHARE"
);
backend!(
    sqlite,
    sqlx::Sqlite,
    Dialect::Sqlite,
    upsert_detail,
    upsert_detail,
    move_stocks_json,
    "UPDATE projection_checkpoints SET position = 0 WHERE projection = $1 AND txid = $2 \
     RETURNING 1"
);

/// Runs each group of statements in a transaction of its own that holds a PostgreSQL
/// replay's claim (as `replay_write` does), the groups at once.
pub(crate) async fn replay_fill(
    pool: &sqlx::PgPool,
    checkpoint_name: &'static str,
    claim: i64,
    groups: Vec<Vec<String>>,
) -> Result<(), ProjectionError> {
    let tasks: Vec<_> = groups
        .into_iter()
        .map(|statements| {
            let pool = pool.clone();
            tokio::spawn(async move {
                let mut tx = event_store::begin(&pool).await?;
                postgres::hold_claim(&mut tx, checkpoint_name, claim).await?;
                for statement in &statements {
                    sqlx::query(statement).execute(&mut *tx).await?;
                }
                tx.commit().await?;
                Ok::<_, ProjectionError>(())
            })
        })
        .collect();
    for task in tasks {
        joined(task.await)??;
    }
    Ok(())
}

/// One SKU's movements in a batch, folded (`MOVE_ROW` of projection.rs): applied only on top
/// of the SKU's event before them, `from_version`.
#[derive(Debug, serde::Serialize)]
struct StockMove<'a> {
    sku: &'a str,
    available: i64,
    reserved: i64,
    sold: i64,
    from_version: i64,
    version: i64,
}

/// A batch's stock movements into PostgreSQL's stock view, one array a column (a JSON array of
/// rows made PostgreSQL build a hash table for each row, and parse the SKUs once more for
/// their key probe). Returns the SKUs moved.
async fn move_stocks_columns(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    sql: &Sql,
    moves: &[StockMove<'_>],
) -> Result<HashSet<String>, ProjectionError> {
    let number = |column: fn(&StockMove<'_>) -> i64| moves.iter().map(column).collect::<Vec<_>>();
    // in MOVE_ROW's order (projection.rs)
    let moved = sqlx::query_scalar(&sql.stock_moves)
        .bind(moves.iter().map(|m| m.sku).collect::<Vec<_>>())
        .bind(number(|m| m.available))
        .bind(number(|m| m.reserved))
        .bind(number(|m| m.sold))
        .bind(number(|m| m.from_version))
        .bind(number(|m| m.version))
        .fetch_all(&mut **tx)
        .await?;
    Ok(moved.into_iter().collect())
}

/// A batch's stock movements into SQLite's stock view, as the JSON array of rows the update
/// reads. Returns the SKUs moved.
async fn move_stocks_json(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    sql: &Sql,
    moves: &[StockMove<'_>],
) -> Result<HashSet<String>, ProjectionError> {
    let moved = sqlx::query_scalar(&sql.stock_moves)
        .bind(serde_json::to_string(moves)?)
        .fetch_all(&mut **tx)
        .await?;
    Ok(moved.into_iter().collect())
}

/// A replay's order rows into PostgreSQL's empty shadow detail view, by COPY.
async fn copy_detail(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    sql: &Sql,
    rows: &[OrderRow],
) -> Result<(), ProjectionError> {
    let mut data = Vec::with_capacity(rows.iter().map(OrderRow::copy_len).sum());
    data.extend_from_slice(crate::rows::COPY_BINARY_HEADER);
    for row in rows {
        row.copy_tuple(&mut data);
    }
    data.extend_from_slice(crate::rows::COPY_BINARY_TRAILER);
    let mut copy = tx.copy_in_raw(&sql.copy_detail).await?;
    copy.send(data).await?;
    copy.finish().await?;
    Ok(())
}

/// A batch's order rows into PostgreSQL's detail view, one array a column: PostgreSQL reads
/// them as they are, where a JSON array of rows made it parse each order's state twice (the
/// cast to `json`, then `json_to_recordset`).
async fn upsert_detail_columns(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    sql: &Sql,
    rows: &[OrderRow],
) -> Result<(), ProjectionError> {
    if rows.is_empty() {
        return Ok(());
    }
    let text = |column: fn(&OrderRow) -> &str| rows.iter().map(column).collect::<Vec<_>>();
    let number = |column: fn(&OrderRow) -> i64| rows.iter().map(column).collect::<Vec<_>>();
    // in ORDER_ROW's order (projection.rs)
    sqlx::query(&sql.upsert_detail)
        .bind(text(|r| &r.order_id))
        .bind(text(|r| &r.buyer_id))
        .bind(text(|r| &r.seller_id))
        .bind(text(|r| &r.status))
        .bind(number(|r| r.placed_at_us))
        .bind(number(|r| r.version))
        .bind(text(|r| &r.content_hash))
        .bind(text(|r| &r.state))
        .bind(number(|r| r.changed_at_us))
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Order rows into SQLite's detail view (a batch's, or a replay's into its empty shadow
/// view), as the JSON array of rows the upsert reads.
async fn upsert_detail(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    sql: &Sql,
    rows: &[OrderRow],
) -> Result<(), ProjectionError> {
    sqlx::query(&sql.upsert_detail)
        .bind(OrderRow::detail_json(rows)?)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
