//! The read side's statements on each backend. PostgreSQL and SQLite run the same SQL text
//! (both take `$N` parameters); only the pool and transaction types differ, so one macro
//! writes the code for both.

use cqrs_es::Aggregate;
use domain::{Order, OrderEvent, SkuEvent};
use event_store::{Checkpoint, RecordedEvent};
use serde_json::Value;

use crate::archive::{ARCHIVE_NAME, ArchiveProgress};
use crate::document::{OrderDocument, micros};
use crate::error::ProjectionError;
use crate::projection::{
    Dialect, INIT_CHECKPOINT, LOAD_CHECKPOINT, Projection, SAVE_CHECKPOINT, STREAM_IDS, Sql,
    StockChange,
};

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

/// The order and its version after `event`, or `None` when the event changes no view (an
/// event already applied, a rejected placement).
fn next_order(
    current: Option<(Order, u64)>,
    event: &RecordedEvent,
) -> Result<Option<(Order, OrderDocument)>, ProjectionError> {
    let (mut order, version) = current.unwrap_or_default();
    if event.sequence <= version {
        // the checkpoint makes this impossible; the guard keeps a view from going back
        return Ok(None);
    }
    if version > 0 && event.sequence != version + 1 {
        return Err(ProjectionError::Corrupt(format!(
            "order {} is at version {version} in the view but the next event is {}",
            event.aggregate_id, event.sequence
        )));
    }
    order.apply(event.decode::<OrderEvent>()?);
    Ok(OrderDocument::of(&order, event.sequence).map(|doc| (order, doc)))
}

fn stored_order(
    document: Value,
    content_hash: String,
    version: i64,
    placed_at_us: i64,
) -> Result<StoredOrder, ProjectionError> {
    Ok(StoredOrder {
        document: serde_json::from_value(document)?,
        content_hash,
        version: to_u64(version, "version")?,
        placed_at_us,
    })
}

macro_rules! backend {
    ($module:ident, $db:ty, $dialect:expr) => {
        pub(crate) mod $module {
            use sqlx::Row;
            use sqlx::types::Json;

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
                events: &[RecordedEvent],
            ) -> Result<(), ProjectionError> {
                let Some(last) = events.last() else {
                    return Ok(());
                };
                let to = last.checkpoint();
                let mut tx = pool.begin().await?;
                // the checkpoint first: on SQLite the first statement takes the write lock, so
                // the transaction never has to upgrade from a read
                let moved = sqlx::query(SAVE_CHECKPOINT)
                    .bind(checkpoint_name)
                    .bind(to_i64(to.txid, "txid")?)
                    .bind(to.position)
                    .bind(to_i64(from.txid, "txid")?)
                    .bind(from.position)
                    .execute(&mut *tx)
                    .await?;
                if moved.rows_affected() != 1 {
                    return Err(ProjectionError::CheckpointMoved(checkpoint_name));
                }
                for event in events
                    .iter()
                    .filter(|e| e.aggregate_type == projection.aggregate_type())
                {
                    match projection {
                        Projection::Orders => apply_order(&mut tx, sql, event).await?,
                        Projection::Stock => apply_stock(&mut tx, sql, event).await?,
                    }
                }
                tx.commit().await?;
                Ok(())
            }

            async fn apply_order(
                tx: &mut Tx<'_>,
                sql: &Sql,
                event: &RecordedEvent,
            ) -> Result<(), ProjectionError> {
                let mut row = sqlx::query(&sql.order_state)
                    .bind(&event.aggregate_id)
                    .fetch_optional(&mut **tx)
                    .await?;
                let mut archived = false;
                if let (None, Some(statement)) = (&row, &sql.archived_state) {
                    // not hot: archived, if anywhere. A late event brings it back; an event the
                    // archived copy already holds (a replay moved the checkpoint back) changes
                    // nothing. Looked up for a first event too: after a replay's swap an
                    // archived order has no hot row, and its events are applied again.
                    row = sqlx::query(statement)
                        .bind(&event.aggregate_id)
                        .fetch_optional(&mut **tx)
                        .await?;
                    archived = row.is_some();
                }
                let current = match row {
                    Some(row) => {
                        let Json(state): Json<Value> = row.try_get("state")?;
                        Some((
                            serde_json::from_value::<Order>(state)?,
                            to_u64(row.try_get("version")?, "version")?,
                        ))
                    }
                    None => None,
                };
                let Some((order, doc)) = next_order(current, event)? else {
                    return Ok(());
                };
                if archived {
                    // the order changes again: back to the hot views, in this transaction, so
                    // it is in exactly one place whatever happens
                    sqlx::query(&sql.unarchive)
                        .bind(&event.aggregate_id)
                        .execute(&mut **tx)
                        .await?;
                }
                let hash = doc.content_hash();
                let version = to_i64(doc.version, "version")?;
                let placed_at_us = micros(doc.placed_at);
                let document = serde_json::to_value(&doc)?;
                sqlx::query(&sql.upsert_detail)
                    .bind(&doc.order_id)
                    .bind(&doc.buyer_id)
                    .bind(&doc.seller_id)
                    .bind(&doc.status)
                    .bind(placed_at_us)
                    .bind(version)
                    .bind(Json(&document))
                    .bind(&hash)
                    .bind(Json(serde_json::to_value(&order)?))
                    .bind(micros(Some(event.recorded_at)))
                    .execute(&mut **tx)
                    .await?;
                for (statement, owner) in [
                    (&sql.upsert_buyer, &doc.buyer_id),
                    (&sql.upsert_seller, &doc.seller_id),
                ] {
                    sqlx::query(statement)
                        .bind(owner)
                        .bind(&doc.order_id)
                        .bind(&doc.status)
                        .bind(placed_at_us)
                        .bind(version)
                        .bind(Json(&document))
                        .bind(&hash)
                        .execute(&mut **tx)
                        .await?;
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
                    let Json(document): Json<Value> = row.try_get("document")?;
                    stored_order(
                        document,
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
                buyer_id: &str,
                seller_id: &str,
            ) -> Result<Vec<(String, StoredOrder)>, ProjectionError> {
                let rows = sqlx::query(&live().order_copies)
                    .bind(order_id)
                    .bind(buyer_id)
                    .bind(seller_id)
                    .fetch_all(pool)
                    .await?;
                rows.iter()
                    .map(|row| {
                        let Json(document): Json<Value> = row.try_get("document")?;
                        Ok((
                            row.try_get("view_name")?,
                            stored_order(
                                document,
                                row.try_get("content_hash")?,
                                row.try_get("version")?,
                                0,
                            )?,
                        ))
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
                        let Json(document): Json<Value> = row.try_get("document")?;
                        stored_order(
                            document,
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
                    let Json(document): Json<Value> = row.try_get("document")?;
                    stored_order(
                        document,
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

            pub(crate) async fn count_orders(pool: &Pool) -> Result<[i64; 4], ProjectionError> {
                let row = sqlx::query(&live().count_orders).fetch_one(pool).await?;
                Ok([
                    row.try_get("detail")?,
                    row.try_get("buyer")?,
                    row.try_get("seller")?,
                    row.try_get("archive")?,
                ])
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
                let mut tx = pool.begin().await?;
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
                for statement in [&sql.archive_drop_buyer, &sql.archive_drop_seller] {
                    sqlx::query(statement).bind(&ids).execute(&mut *tx).await?;
                }
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

backend!(postgres, sqlx::Postgres, Dialect::Postgres);
backend!(sqlite, sqlx::Sqlite, Dialect::Sqlite);
