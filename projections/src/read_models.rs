//! [`ReadModels`]: the read-model tables of one database, for the runner and the queries.

use std::sync::Arc;

use event_store::{Checkpoint, Db, EventStore, RecordedEvent};

use crate::apply;
use crate::backend::{self, OrderCopy, StockRow, StoredOrder};
use crate::error::ProjectionError;
use crate::projection::{Projection, Sql};

/// Which shelf of the order lists a page comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Shelf {
    /// The hot lists: every order not archived.
    #[default]
    Hot,
    /// The archive (settled orders whose last change is older than the archive threshold).
    Archive,
}

/// Most orders one list page holds.
pub const ORDER_PAGE_SIZE_MAX: u32 = 100;

/// Whose orders a list shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner<'a> {
    /// A buyer's orders.
    Buyer(&'a str),
    /// A seller's orders.
    Seller(&'a str),
}

/// Where a list page starts: just after the order with this sort key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    /// The last order's `placed_at` in microseconds since the epoch.
    pub placed_at_us: i64,
    /// The last order's id.
    pub order_id: String,
}

impl Cursor {
    /// The opaque text form handed to clients.
    pub fn encode(&self) -> String {
        format!("{}_{}", self.placed_at_us, self.order_id)
    }

    /// Parses [`Cursor::encode`]'s form.
    pub fn decode(text: &str) -> Option<Self> {
        let (at, id) = text.split_once('_')?;
        (!id.is_empty() && id.bytes().all(|b| b.is_ascii_digit())).then_some(())?;
        Some(Self {
            placed_at_us: at.parse().ok()?,
            order_id: id.to_owned(),
        })
    }
}

/// The read models in the event store's database (they share its [`Db`]). A query about one
/// order, buyer or SKU asks the database its key routes to ([`Db::route`]); the runner's
/// batches go to the database whose log it follows.
#[derive(Debug, Clone)]
pub struct ReadModels {
    pub(crate) db: Db,
}

impl ReadModels {
    /// The read models of `store`'s database.
    pub fn new(store: &EventStore) -> Self {
        Self { db: store.db() }
    }

    /// The read models reached through `db`: with a handle that routes by the shard map
    /// ([`Db::routed`]), each query about an order, buyer or SKU asks its gene's shard.
    pub fn on(db: Db) -> Self {
        Self { db }
    }

    /// The databases of an owner's list on `shelf`: a buyer's lives with the buyer; with
    /// shards, a seller's hot list is the seller view of the seller's shard (ADR 45), and a
    /// seller's archive is kept by the archive of each shard whose log holds the seller's
    /// orders, so its page is read from every shard (one database without shards).
    fn owners_dbs(&self, owner: Owner<'_>, shelf: Shelf) -> Vec<&Db> {
        match (owner, shelf) {
            (Owner::Buyer(buyer), _) => vec![self.db.for_buyer(buyer)],
            (Owner::Seller(seller), Shelf::Hot) => vec![self.db.for_seller(seller)],
            (Owner::Seller(_), Shelf::Archive) => self.db.every(),
        }
    }

    /// Where `projection` has got to in the log.
    pub async fn checkpoint(&self, projection: Projection) -> Result<Checkpoint, ProjectionError> {
        let name = projection.name();
        apply::load_checkpoint(&self.db, name, true).await
    }

    /// The position in the log every view has reached (the least of their checkpoints),
    /// read only.
    pub async fn views_reached(&self) -> Result<Checkpoint, ProjectionError> {
        let mut reached: Option<Checkpoint> = None;
        for projection in Projection::ALL {
            let at = self.stored_checkpoint(projection).await?;
            reached = Some(reached.map_or(at, |r| r.min(at)));
        }
        Ok(reached.unwrap_or(Checkpoint::START))
    }

    /// Deletes the archived orders whose gene is in `genes` (their hot rows go with a replay
    /// of the log that no longer holds them): a shard's copies of genes moved away (ADR 42).
    /// PostgreSQL only, as shards are.
    pub async fn forget_archived_genes(
        &self,
        genes: &std::ops::RangeInclusive<u16>,
    ) -> Result<u64, ProjectionError> {
        let db = &self.db;
        let deleted = db
            .query(
                "DELETE FROM order_archive WHERE order_id ~ '^[0-9]{1,20}$' \
                 AND (order_id::numeric % $3) BETWEEN $1 AND $2",
            )
            .bind(i32::from(*genes.start()))
            .bind(i32::from(*genes.end()))
            .bind(i32::from(event_store::GENE_COUNT))
            .execute(db)
            .await?;
        Ok(deleted)
    }

    /// Where `projection` has got to, read only (the start when it never ran).
    pub(crate) async fn stored_checkpoint(
        &self,
        projection: Projection,
    ) -> Result<Checkpoint, ProjectionError> {
        let name = projection.name();
        apply::load_checkpoint(&self.db, name, false).await
    }

    /// Applies `events`, read after `from`, to `projection` and moves its checkpoint past
    /// them, atomically.
    pub async fn apply_batch(
        &self,
        projection: Projection,
        from: Checkpoint,
        events: &[Arc<RecordedEvent>],
    ) -> Result<(), ProjectionError> {
        let name = projection.name();
        apply::apply_batch(&self.db, projection, name, from, events).await
    }

    /// Moves `projection`'s checkpoint from `from` to `to` with no rows: past a parked event.
    pub(crate) async fn pass(
        &self,
        projection: Projection,
        from: Checkpoint,
        to: Checkpoint,
    ) -> Result<(), ProjectionError> {
        apply::pass(&self.db, projection.name(), from, to).await
    }

    /// An order: the order detail view's copy, or the archive's when it has been archived.
    pub async fn order(&self, order_id: &str) -> Result<Option<StoredOrder>, ProjectionError> {
        backend::order_detail(self.db.for_order(order_id), order_id).await
    }

    /// Every copy of an order, with the view that holds it (`order_detail`, whose indexes
    /// are the buyer's and the seller's lists, or `order_archive`), read at one moment: a hot
    /// order is in the first, an archived one in the archive only.
    pub async fn order_copies(&self, order_id: &str) -> Result<Vec<OrderCopy>, ProjectionError> {
        backend::order_copies(self.db.for_order(order_id), order_id).await
    }

    /// One page of an owner's orders on `shelf`, newest first, after `after`; at most `limit`
    /// (capped at [`ORDER_PAGE_SIZE_MAX`]).
    pub async fn orders(
        &self,
        owner: Owner<'_>,
        shelf: Shelf,
        status: Option<&str>,
        after: Option<&Cursor>,
        limit: u32,
    ) -> Result<Vec<StoredOrder>, ProjectionError> {
        let dbs = self.owners_dbs(owner, shelf);
        let seller_view = self.db.is_routed();
        let (statement, owner): (fn(&Sql) -> &String, _) = match (owner, shelf) {
            (Owner::Buyer(id), Shelf::Hot) => (|s| &s.buyer_list, id),
            (Owner::Seller(id), Shelf::Hot) if seller_view => (|s| &s.seller_view_list, id),
            (Owner::Seller(id), Shelf::Hot) => (|s| &s.seller_list, id),
            (Owner::Buyer(id), Shelf::Archive) => (|s| &s.buyer_archive_list, id),
            (Owner::Seller(id), Shelf::Archive) => (|s| &s.seller_archive_list, id),
        };
        // no cursor: before everything (an empty id sorts before every id)
        let before = after.map_or((i64::MAX, ""), |c| (c.placed_at_us, c.order_id.as_str()));
        let limit = i64::from(limit.clamp(1, ORDER_PAGE_SIZE_MAX));
        let [db] = dbs.as_slice() else {
            // one page from each shard, merged in the lists' order (placed_at_us, order_id,
            // both descending), cut to the page
            let mut merged = Vec::new();
            for db in dbs {
                merged.extend(
                    self.shard_page(db, statement, owner, status, before, limit)
                        .await?,
                );
            }
            merged.sort_by(|a, b| {
                (b.placed_at_us, &b.document.order_id).cmp(&(a.placed_at_us, &a.document.order_id))
            });
            merged.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
            return Ok(merged);
        };
        backend::order_list(db, statement, owner, status, before, limit).await
    }

    /// One page of a list from the shard `db`, of the orders read from it: a shard keeps the
    /// rows of orders whose gene moved away (ADR 42) until the move is cleaned up, and only
    /// the shard an order is read from answers for it. Pages on past such rows until `limit`
    /// orders or the shard's end.
    async fn shard_page(
        &self,
        db: &Db,
        statement: fn(&Sql) -> &String,
        owner: &str,
        status: Option<&str>,
        before: (i64, &str),
        limit: i64,
    ) -> Result<Vec<StoredOrder>, ProjectionError> {
        let want = usize::try_from(limit).unwrap_or(usize::MAX);
        let mut page: Vec<StoredOrder> = Vec::new();
        let mut cursor = (before.0, before.1.to_owned());
        loop {
            let rows =
                backend::order_list(db, statement, owner, status, (cursor.0, &cursor.1), limit)
                    .await?;
            let full = rows.len() == want;
            let next = rows
                .last()
                .map(|row| (row.placed_at_us, row.document.order_id.clone()));
            page.extend(
                rows.into_iter()
                    .filter(|order| std::ptr::eq(self.db.for_order(&order.document.order_id), db)),
            );
            match next {
                Some(next) if full && page.len() < want => cursor = next,
                _ => break,
            }
        }
        page.truncate(want);
        Ok(page)
    }

    /// One order as the buyer's (`Owner::Buyer`) or the seller's list holds it: its detail row
    /// (with shards, a seller's from the seller view), if that owner's.
    pub async fn listed_order(
        &self,
        owner: Owner<'_>,
        order_id: &str,
    ) -> Result<Option<StoredOrder>, ProjectionError> {
        let (statement, owner, db): (fn(&Sql) -> &String, _, _) = match owner {
            Owner::Buyer(id) => (|s| &s.buyer_row, id, self.db.for_order(order_id)),
            Owner::Seller(id) if self.db.is_routed() => {
                (|s| &s.seller_view_row, id, self.db.for_seller(id))
            }
            Owner::Seller(id) => (|s| &s.seller_row, id, self.db.for_order(order_id)),
        };
        backend::list_row(db, statement, owner, order_id).await
    }

    /// The version of an owner's order that the read side holds, in the owner's list or in the
    /// archive; `None` when it holds none (not yet, or not the owner's order).
    pub async fn listed_version(
        &self,
        owner: Owner<'_>,
        order_id: &str,
    ) -> Result<Option<u64>, ProjectionError> {
        let (statement, owner): (fn(&Sql) -> &String, _) = match owner {
            Owner::Buyer(id) => (|s| &s.buyer_version, id),
            Owner::Seller(seller) if self.db.is_routed() => {
                // the seller's hot list is the seller view on the seller's shard (ADR 45), the
                // archive the order's shard's
                let view = self.db.for_seller(seller);
                let hot =
                    backend::listed_version(view, |s| &s.seller_view_version, seller, order_id);
                let archive = self.db.for_order(order_id);
                let archived = backend::listed_version(
                    archive,
                    |s| &s.seller_archive_version,
                    seller,
                    order_id,
                );
                return Ok(hot.await?.max(archived.await?));
            }
            Owner::Seller(id) => (|s| &s.seller_version, id),
        };
        let db = self.db.for_order(order_id);
        backend::listed_version(db, statement, owner, order_id).await
    }

    /// Up to `limit` ids of streams of `aggregate_type` after `after`, in id order.
    pub async fn stream_ids(
        &self,
        aggregate_type: &str,
        after: &str,
        limit: u32,
    ) -> Result<Vec<String>, ProjectionError> {
        let limit = i64::from(limit);
        backend::stream_ids(&self.db, aggregate_type, after, limit).await
    }

    /// Rows in the order detail view and the archive, counted at one moment.
    pub async fn order_row_counts(&self) -> Result<[i64; 2], ProjectionError> {
        backend::count_orders(&self.db).await
    }

    /// The stock view's row of a SKU.
    pub async fn stock(&self, sku: &str) -> Result<Option<StockRow>, ProjectionError> {
        backend::sku_stock(self.db.for_sku(sku), sku).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_garbage() {
        let cursor = Cursor {
            placed_at_us: 1_700_000_000_000_000,
            order_id: "123".into(),
        };
        assert_eq!(Cursor::decode(&cursor.encode()), Some(cursor));
        for bad in ["", "x_1", "1_", "1_a", "1"] {
            assert_eq!(Cursor::decode(bad), None, "{bad}");
        }
    }
}
