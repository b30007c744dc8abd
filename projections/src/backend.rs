//! The read side's queries and the types they answer with. Both backends run the same
//! statement text through the store's [`Db`]; a query about one order, buyer or SKU asks the
//! database its key routes to. The writes are in `apply.rs` (the runner's batches) and
//! `writes.rs` (what differs by dialect, and the replay's writes).

use domain::{Order, OrderSnapshot};
use event_store::Db;

use crate::archive::{ARCHIVE_NAME, ArchiveProgress};
use crate::document::OrderDocument;
use crate::error::ProjectionError;
use crate::projection::{STREAM_IDS, Sql};

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

pub(crate) fn to_i64(value: u64, what: &str) -> Result<i64, ProjectionError> {
    i64::try_from(value).map_err(|_| ProjectionError::Corrupt(format!("{what} {value}")))
}

pub(crate) fn to_u64(value: i64, what: &str) -> Result<u64, ProjectionError> {
    u64::try_from(value).map_err(|_| ProjectionError::Corrupt(format!("{what} {value}")))
}

/// An order as a view stores it: its document is derived from the stored snapshot at the
/// stored version, by the function that made the content hash (ADR 13).
fn stored_order(
    state: &str,
    content_hash: String,
    version: i64,
    placed_at_us: i64,
) -> Result<StoredOrder, ProjectionError> {
    let version = to_u64(version, "version")?;
    let order = Order::from(serde_json::from_str::<OrderSnapshot>(state)?);
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

/// The statements on `db`'s live tables.
pub(crate) fn live(db: &Db) -> &'static Sql {
    Sql::live(db.dialect())
}

/// An order read from a row of `state`, `content_hash`, `version` and (unless `list_key` is
/// false) `placed_at_us`.
fn order_of(row: &event_store::DbRow, list_key: bool) -> Result<StoredOrder, ProjectionError> {
    let state: String = row.try_get("state")?;
    stored_order(
        &state,
        row.try_get("content_hash")?,
        row.try_get("version")?,
        if list_key {
            row.try_get("placed_at_us")?
        } else {
            0
        },
    )
}

/// An order from the detail view, else from the archive.
pub(crate) async fn order_detail(
    db: &Db,
    order_id: &str,
) -> Result<Option<StoredOrder>, ProjectionError> {
    let row = db
        .query(&live(db).order_detail)
        .bind(order_id)
        .fetch_optional(db)
        .await?;
    row.map(|row| order_of(&row, false)).transpose()
}

/// Every copy of an order, named by the view that holds it.
pub(crate) async fn order_copies(
    db: &Db,
    order_id: &str,
) -> Result<Vec<OrderCopy>, ProjectionError> {
    let rows = db
        .query(&live(db).order_copies)
        .bind(order_id)
        .fetch_all(db)
        .await?;
    rows.iter()
        .map(|row| {
            Ok(OrderCopy {
                view: row.try_get("view_name")?,
                order: order_of(row, true)?,
                buyer_id: row.try_get("buyer_id")?,
                seller_id: row.try_get("seller_id")?,
                status: row.try_get("status")?,
            })
        })
        .collect()
}

pub(crate) async fn order_list(
    db: &Db,
    statement: fn(&Sql) -> &String,
    owner: &str,
    status: Option<&str>,
    before: (i64, &str),
    limit: i64,
) -> Result<Vec<StoredOrder>, ProjectionError> {
    let rows = db
        .query(statement(live(db)))
        .bind(owner)
        .bind(status)
        .bind(before.0)
        .bind(before.1)
        .bind(limit)
        .fetch_all(db)
        .await?;
    rows.iter().map(|row| order_of(row, true)).collect()
}

pub(crate) async fn list_row(
    db: &Db,
    statement: fn(&Sql) -> &String,
    owner: &str,
    order_id: &str,
) -> Result<Option<StoredOrder>, ProjectionError> {
    let row = db
        .query(statement(live(db)))
        .bind(owner)
        .bind(order_id)
        .fetch_optional(db)
        .await?;
    row.map(|row| order_of(&row, true)).transpose()
}

/// The newest version of an owner's order in its list or the archive.
pub(crate) async fn listed_version(
    db: &Db,
    statement: fn(&Sql) -> &String,
    owner: &str,
    order_id: &str,
) -> Result<Option<u64>, ProjectionError> {
    let row = db
        .query(statement(live(db)))
        .bind(owner)
        .bind(order_id)
        .fetch_one(db)
        .await?;
    let version: Option<i64> = row.try_get(0)?;
    version.map(|v| to_u64(v, "version")).transpose()
}

pub(crate) async fn stream_ids(
    db: &Db,
    aggregate_type: &str,
    after: &str,
    limit: i64,
) -> Result<Vec<String>, ProjectionError> {
    Ok(db
        .query(STREAM_IDS)
        .bind(aggregate_type)
        .bind(after)
        .bind(limit)
        .fetch_all_with(db, |row| row.try_get(0))
        .await?)
}

pub(crate) async fn count_orders(db: &Db) -> Result<[i64; 2], ProjectionError> {
    let row = db.query(&live(db).count_orders).fetch_one(db).await?;
    Ok([row.try_get("detail")?, row.try_get("archive")?])
}

/// Settled orders whose last change is before `cutoff_us`: what an archive run would move.
pub(crate) async fn count_archivable(db: &Db, cutoff_us: i64) -> Result<u64, ProjectionError> {
    let row = db
        .query(&live(db).archive_count)
        .bind(cutoff_us)
        .fetch_one(db)
        .await?;
    let count: i64 = row.try_get("archivable")?;
    Ok(u64::try_from(count).unwrap_or(0))
}

/// The archive's stored progress.
pub(crate) async fn archive_progress(db: &Db) -> Result<ArchiveProgress, ProjectionError> {
    let row = db
        .query(&live(db).archive_progress)
        .bind(ARCHIVE_NAME)
        .fetch_one(db)
        .await?;
    archive_progress_of(&row)
}

/// An archive progress row.
pub(crate) fn archive_progress_of(
    row: &event_store::DbRow,
) -> Result<ArchiveProgress, ProjectionError> {
    Ok(ArchiveProgress {
        changed_at_us: row.try_get("changed_at_us")?,
        order_id: row.try_get("order_id")?,
        batches: to_u64(row.try_get("batches")?, "batches")?,
        orders: to_u64(row.try_get("orders")?, "orders")?,
    })
}

pub(crate) async fn sku_stock(db: &Db, sku: &str) -> Result<Option<StockRow>, ProjectionError> {
    let row = db
        .query(&live(db).sku_stock)
        .bind(sku)
        .fetch_optional(db)
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
