//! The seller view on several shards (ADR 45): a seller's orders kept in the database of the
//! seller's gene, so that the seller's list is one query on one database.
//!
//! An order's detail row lives with its buyer; the `sellers` follower of each shard's log
//! copies the detail rows of the orders each batch changed to the seller view of the database
//! that keeps their seller ([`Places`]), after the shard's `orders` projection has applied the
//! batch. A copy never replaces a newer one (the row's version decides), so copies may arrive
//! twice, late or from two shards (a moved order's old and new shard): the follower keeps its
//! checkpoint after the effect, in the shard it reads, and needs no transaction across
//! databases. Which databases keep a seller gene is read afresh for each batch: the gene's
//! read shard, and while a move of the gene is not cleaned up, both ends of the move, so that
//! a move's target receives every copy from the moment the move starts ([`copy_sellers`]
//! fills it with what came before). One database without shards has no seller view: its
//! detail view's index is the seller's list (ADR 13).

use std::collections::HashSet;
use std::future::Future;
use std::ops::RangeInclusive;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use event_store::follower::{
    ATTEMPTS_BEFORE_PARKING_DEFAULT, Checkpointing, Follower, FollowerOptions, Handler,
    HandlerError,
};
use event_store::{Checkpoint, Db, EventStore, GENE_COUNT, RecordedEvent, gene_of_buyer};
use sqlx::{PgPool, Row};
use tokio_util::sync::CancellationToken;

use crate::error::ProjectionError;
use crate::metrics::ProjectionMetrics;
use crate::projection::Projection;
use crate::read_models::ReadModels;
use crate::reconcile::Difference;

/// The follower's name: its checkpoint's (in the shard whose log it reads), its lease's
/// (`projection:sellers`) and its metrics' label.
pub const SELLERS_NAME: &str = "sellers";

/// Events read per batch.
const SELLERS_BATCH_SIZE_MAX: usize = 500;

/// Detail rows read and copied per statement when a move fills its target.
const COPY_ROWS: i64 = 5_000;

/// How old a batch's newest event is before the batch is copied: the order view has applied
/// it by then as a rule, and the next batch gathers meanwhile (fewer, fuller copies).
const SELLERS_LINGER: Duration = Duration::from_millis(100);

/// How often a batch looks whether the shard's order view has applied it.
const DETAIL_POLL: Duration = Duration::from_millis(5);

const DETAIL_ROWS: &str = "SELECT order_id, buyer_id, seller_id, status, placed_at_us, version, \
     content_hash, state, changed_at_us FROM order_detail WHERE order_id = ANY($1)";

const DETAIL_PAGE: &str = "SELECT order_id, buyer_id, seller_id, status, placed_at_us, version, \
     content_hash, state, changed_at_us FROM order_detail WHERE order_id > $1 \
     ORDER BY order_id LIMIT $2";

const UPSERT: &str = "INSERT INTO seller_orders (order_id, buyer_id, seller_id, seller_gene, \
     status, placed_at_us, version, content_hash, state, changed_at_us) \
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int2[], $5::text[], \
     $6::int8[], $7::int8[], $8::text[], $9::text[], $10::int8[]) \
     ON CONFLICT (order_id) DO UPDATE SET status = excluded.status, \
     version = excluded.version, content_hash = excluded.content_hash, state = excluded.state, \
     changed_at_us = excluded.changed_at_us \
     WHERE seller_orders.version < excluded.version";

/// The databases that keep each seller gene's rows, at one moment.
#[derive(Debug, Clone, Default)]
pub struct Places {
    keepers: Vec<(Db, Vec<bool>)>,
}

impl Places {
    /// Nobody keeps anything yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// `db` keeps the rows of the sellers whose gene `keeps` holds.
    pub fn keep(&mut self, db: Db, keeps: impl Fn(u16) -> bool) {
        let genes = (0..GENE_COUNT).map(keeps).collect();
        self.keepers.push((db, genes));
    }
}

/// A future of the places, boxed (the trait is used as an object).
pub type PlacesFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Places, ProjectionError>> + Send + 'a>>;

/// Where sellers' rows are kept now: read afresh for each batch (a move that has started must
/// be seen by the next batch, see [`copy_sellers`]).
pub trait SellerPlaces: std::fmt::Debug + Send + Sync + 'static {
    /// The places in force now.
    fn places(&self) -> PlacesFuture<'_>;
}

/// One detail row, as the seller view copies it.
struct DetailRow {
    order_id: String,
    buyer_id: String,
    seller_id: String,
    status: String,
    placed_at_us: i64,
    version: i64,
    content_hash: String,
    state: String,
    changed_at_us: i64,
}

impl DetailRow {
    fn of(row: &sqlx::postgres::PgRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            order_id: row.try_get("order_id")?,
            buyer_id: row.try_get("buyer_id")?,
            seller_id: row.try_get("seller_id")?,
            status: row.try_get("status")?,
            placed_at_us: row.try_get("placed_at_us")?,
            version: row.try_get("version")?,
            content_hash: row.try_get("content_hash")?,
            state: row.try_get("state")?,
            changed_at_us: row.try_get("changed_at_us")?,
        })
    }

    fn seller_gene(&self) -> u16 {
        gene_of_buyer(&self.seller_id)
    }
}

fn pool(db: &Db) -> Result<&PgPool, ProjectionError> {
    db.postgres().ok_or_else(|| {
        ProjectionError::Corrupt("the seller view is kept on PostgreSQL shards only".to_owned())
    })
}

/// Copies `rows` into the seller view of `db`, each unless it holds a newer version.
async fn upsert(db: &Db, rows: &[&DetailRow]) -> Result<(), ProjectionError> {
    if rows.is_empty() {
        return Ok(());
    }
    let text = |column: fn(&DetailRow) -> &str| rows.iter().map(|r| column(r)).collect::<Vec<_>>();
    let number = |column: fn(&DetailRow) -> i64| rows.iter().map(|r| column(r)).collect::<Vec<_>>();
    let genes: Vec<i16> = rows
        .iter()
        .map(|r| i16::try_from(r.seller_gene()).unwrap_or(i16::MAX))
        .collect();
    sqlx::query(UPSERT)
        .bind(text(|r| &r.order_id))
        .bind(text(|r| &r.buyer_id))
        .bind(text(|r| &r.seller_id))
        .bind(genes)
        .bind(text(|r| &r.status))
        .bind(number(|r| r.placed_at_us))
        .bind(number(|r| r.version))
        .bind(text(|r| &r.content_hash))
        .bind(text(|r| &r.state))
        .bind(number(|r| r.changed_at_us))
        .execute(pool(db)?)
        .await?;
    Ok(())
}

/// Copies `rows` to every database that keeps their sellers under `places`.
async fn copy_to_places(places: &Places, rows: &[DetailRow]) -> Result<(), ProjectionError> {
    for (db, genes) in &places.keepers {
        let theirs: Vec<&DetailRow> = rows
            .iter()
            .filter(|row| {
                genes
                    .get(usize::from(row.seller_gene()))
                    .copied()
                    .unwrap_or(false)
            })
            .collect();
        upsert(db, &theirs).await?;
    }
    Ok(())
}

/// The `sellers` follower of one shard's log.
#[derive(Debug)]
pub struct SellerSync {
    source: ReadModels,
    places: Arc<dyn SellerPlaces>,
    /// Ends a wait for the order view when the runner stops.
    stop: OnceLock<CancellationToken>,
}

impl SellerSync {
    /// Waits until the source's order view has applied the log up to `at`, for as long as it
    /// takes (a batch that failed for it would be parked in the end, and its sellers' rows
    /// lost), or until the runner stops.
    async fn detail_reached(&self, at: Checkpoint) -> Result<(), ProjectionError> {
        loop {
            if self.source.stored_checkpoint(Projection::Orders).await? >= at {
                return Ok(());
            }
            if self.stop.get().is_some_and(CancellationToken::is_cancelled) {
                return Err(ProjectionError::Corrupt(format!(
                    "stopped before the order view applied the log up to position {}",
                    at.position
                )));
            }
            tokio::time::sleep(DETAIL_POLL).await;
        }
    }

    /// Copies the detail rows of the orders `events` changed to their sellers' places, once
    /// the order view has applied the events.
    async fn sync(&self, events: &[Arc<RecordedEvent>]) -> Result<(), ProjectionError> {
        let mut seen = HashSet::new();
        let ids: Vec<&str> = events
            .iter()
            .filter(|e| e.aggregate_type == "Order" && seen.insert(e.aggregate_id.as_str()))
            .map(|e| e.aggregate_id.as_str())
            .collect();
        let Some(last) = events.last() else {
            return Ok(());
        };
        if ids.is_empty() {
            return Ok(());
        }
        event_store::follower::linger(last, SELLERS_LINGER).await;
        self.detail_reached(last.checkpoint()).await?;
        // after the view reached the batch: a move that started since is in the places, and
        // one that started before finds these versions in the view when it fills its target
        let places = self.places.places().await?;
        let rows = sqlx::query(DETAIL_ROWS)
            .bind(&ids)
            .fetch_all(pool(&self.source.db)?)
            .await?
            .iter()
            .map(DetailRow::of)
            .collect::<Result<Vec<_>, _>>()?;
        copy_to_places(&places, &rows).await
    }
}

impl Handler for SellerSync {
    fn name(&self) -> &'static str {
        SELLERS_NAME
    }

    fn checkpointing(&self) -> Checkpointing {
        Checkpointing::AfterEffect
    }

    async fn handle(
        &self,
        _from: Checkpoint,
        batch: &[Arc<RecordedEvent>],
    ) -> Result<(), HandlerError> {
        Ok(self.sync(batch).await?)
    }

    async fn retry(&self, event: &Arc<RecordedEvent>) -> Result<(), HandlerError> {
        Ok(self.sync(std::slice::from_ref(event)).await?)
    }
}

/// The `sellers` follower's runner over one shard's log.
pub struct SellerRunner {
    follower: Follower<SellerSync>,
}

impl std::fmt::Debug for SellerRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SellerRunner").finish_non_exhaustive()
    }
}

impl SellerRunner {
    /// A runner over `store`'s log, copying to the places `places` names, its lag exported
    /// in `metrics` (the projections').
    pub fn new(
        store: EventStore,
        places: Arc<dyn SellerPlaces>,
        metrics: ProjectionMetrics,
    ) -> Self {
        let handler = SellerSync {
            source: ReadModels::new(&store),
            places,
            stop: OnceLock::new(),
        };
        let options = FollowerOptions {
            batch_size: SELLERS_BATCH_SIZE_MAX,
            attempts_before_parking: ATTEMPTS_BEFORE_PARKING_DEFAULT,
        };
        Self {
            follower: Follower::new(store, handler, options, metrics.0),
        }
    }

    /// Runs until `shutdown` is cancelled.
    pub async fn run(self, shutdown: CancellationToken) {
        // set once, by the one run of this runner
        let _ = self.follower.handler().stop.set(shutdown.clone());
        self.follower.run(shutdown).await;
    }
}

/// Copies every detail row of `source`'s order view to the seller views that keep its seller
/// under `places`: a move's fill of its target (places: the target, keeping the moving
/// genes), and a rebuild of the seller views ([`sweep`] then deletes what is left over).
///
/// A move runs it after its job is recorded: a batch of a `sellers` follower that read the
/// places before then had its orders applied to the view before then, so this copy reads them
/// at that version or newer. Calls `progress` with the rows read so far; returns them.
pub async fn copy_sellers(
    source: &EventStore,
    places: &Places,
    progress: &mut (dyn FnMut(u64) + Send),
) -> Result<u64, ProjectionError> {
    let db = source.db();
    let mut after = String::new();
    let mut read = 0;
    loop {
        let rows = sqlx::query(DETAIL_PAGE)
            .bind(&after)
            .bind(COPY_ROWS)
            .fetch_all(pool(&db)?)
            .await?
            .iter()
            .map(DetailRow::of)
            .collect::<Result<Vec<_>, _>>()?;
        let Some(last) = rows.last() else {
            return Ok(read);
        };
        after.clone_from(&last.order_id);
        copy_to_places(places, &rows).await?;
        read += rows.len() as u64;
        progress(read);
    }
}

/// Deletes from `db`'s seller view the rows of orders that no order view of `shards` holds
/// (archived, or moved away and cleaned up): the second half of a rebuild, after
/// [`copy_sellers`] from every shard. A row the `sellers` followers copy meanwhile is of an
/// order in a detail view, so it stays. Returns the rows deleted.
pub async fn sweep(
    db: &Db,
    shards: &[Db],
    progress: &mut (dyn FnMut(u64) + Send),
) -> Result<u64, ProjectionError> {
    let mut after = String::new();
    let mut deleted = 0;
    loop {
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT order_id FROM seller_orders WHERE order_id > $1 ORDER BY order_id LIMIT $2",
        )
        .bind(&after)
        .bind(COPY_ROWS)
        .fetch_all(pool(db)?)
        .await?;
        let Some(last) = ids.last() else {
            return Ok(deleted);
        };
        after.clone_from(last);
        let mut held = HashSet::new();
        for shard in shards {
            let found: Vec<String> =
                sqlx::query_scalar("SELECT order_id FROM order_detail WHERE order_id = ANY($1)")
                    .bind(&ids)
                    .fetch_all(pool(shard)?)
                    .await?;
            held.extend(found);
        }
        let gone: Vec<&String> = ids.iter().filter(|id| !held.contains(*id)).collect();
        if !gone.is_empty() {
            deleted += sqlx::query("DELETE FROM seller_orders WHERE order_id = ANY($1)")
                .bind(&gone)
                .execute(pool(db)?)
                .await?
                .rows_affected();
        }
        progress(deleted);
    }
}

/// Deletes the rows of the sellers of `genes` from `db`'s seller view: a move's source, once
/// the move is cleaned up. Returns the rows deleted.
pub async fn forget_sellers(db: &Db, genes: &RangeInclusive<u16>) -> Result<u64, ProjectionError> {
    let deleted = sqlx::query("DELETE FROM seller_orders WHERE seller_gene BETWEEN $1 AND $2")
        .bind(i16::try_from(*genes.start()).unwrap_or(i16::MAX))
        .bind(i16::try_from(*genes.end()).unwrap_or(i16::MAX))
        .execute(pool(db)?)
        .await?
        .rows_affected();
    Ok(deleted)
}

/// Records, in an archive batch's transaction, the orders it moved (a JSON array of ids) as
/// still to be forgotten by the seller views ([`forget_archived`]); PostgreSQL only.
pub(crate) const NOTE_FORGETS: &str = "INSERT INTO seller_forgets (order_id) \
     SELECT value FROM json_array_elements_text($1::json) ON CONFLICT DO NOTHING";

/// Most orders one round of [`forget_archived`] deletes.
const FORGETS_PER_ROUND: i64 = 10_000;

/// Deletes the orders an archive batch of `own` moved (recorded in its `seller_forgets`, by
/// that batch or by one stopped before it got here) from the seller view of every database
/// of `shards` (which routes by the shard map), then their records: a seller's archive shelf
/// lists them. Deletes repeat harmlessly, so a stop anywhere leaves only work to redo.
pub async fn forget_archived(own: &Db, shards: &Db) -> Result<(), ProjectionError> {
    if !shards.is_routed() {
        return Ok(());
    }
    let own = pool(own)?;
    loop {
        let order_ids: Vec<String> =
            sqlx::query_scalar("SELECT order_id FROM seller_forgets ORDER BY order_id LIMIT $1")
                .bind(FORGETS_PER_ROUND)
                .fetch_all(own)
                .await?;
        if order_ids.is_empty() {
            return Ok(());
        }
        for shard in shards.every() {
            sqlx::query("DELETE FROM seller_orders WHERE order_id = ANY($1)")
                .bind(&order_ids)
                .execute(pool(shard)?)
                .await?;
        }
        sqlx::query("DELETE FROM seller_forgets WHERE order_id = ANY($1)")
            .bind(&order_ids)
            .execute(own)
            .await?;
    }
}

/// One shard as a reconcile of the seller views sees it.
pub struct SellerSide<'a> {
    /// Its database.
    pub db: Db,
    /// Whether it answers for a stream (aggregate type, id): its gene is read from it.
    pub owns: &'a (dyn Fn(&str, &str) -> bool + Send + Sync),
    /// Whether its seller view answers for a seller gene (read from it).
    pub keeps_seller: &'a (dyn Fn(u16) -> bool + Send + Sync),
}

/// One order as a view holds it, for the comparison: seller, version and content hash.
type Held = (String, i64, String);

/// Every row of `table` (`order_detail` or `seller_orders`) in `db` that `keep` takes, by
/// order id.
async fn held(
    db: &Db,
    table: &str,
    keep: impl Fn(&str, &str) -> bool,
) -> Result<std::collections::HashMap<String, Held>, ProjectionError> {
    let page = format!(
        "SELECT order_id, seller_id, version, content_hash FROM {table} \
         WHERE order_id > $1 ORDER BY order_id LIMIT $2"
    );
    let mut rows = std::collections::HashMap::new();
    let mut after = String::new();
    loop {
        let found: Vec<(String, String, i64, String)> = sqlx::query_as(&page)
            .bind(&after)
            .bind(COPY_ROWS)
            .fetch_all(pool(db)?)
            .await?;
        let Some((last, ..)) = found.last() else {
            return Ok(rows);
        };
        after.clone_from(last);
        for (order, seller, version, hash) in found {
            if keep(&order, &seller) {
                rows.insert(order, (seller, version, hash));
            }
        }
    }
}

/// Compares the seller views with the order views: every order a shard answers for in its
/// order view is in the seller view of the shard that answers for its seller, at the same
/// version and content hash, and a seller view holds no other order of its sellers.
pub async fn compare(shards: &[SellerSide<'_>]) -> Result<Vec<Difference>, ProjectionError> {
    let mut expected = std::collections::HashMap::new();
    let mut kept = std::collections::HashMap::new();
    for shard in shards {
        expected.extend(
            held(&shard.db, "order_detail", |order, _| {
                (shard.owns)("Order", order)
            })
            .await?,
        );
        kept.extend(
            held(&shard.db, "seller_orders", |_, seller| {
                (shard.keeps_seller)(gene_of_buyer(seller))
            })
            .await?,
        );
    }
    let difference = |kind: &str, id: &str, detail: String| Difference {
        kind: kind.to_owned(),
        view: "seller_orders".to_owned(),
        id: id.to_owned(),
        detail,
    };
    let mut differences = Vec::new();
    for (id, (seller, version, hash)) in &expected {
        match kept.get(id) {
            None => differences.push(difference(
                "missing",
                id,
                format!("seller {seller}'s order at version {version} is not in its seller view"),
            )),
            Some((_, at, _)) if at != version => differences.push(difference(
                "version",
                id,
                format!("version {at} in the seller view, {version} in the order view"),
            )),
            Some((_, _, copied)) if copied != hash => differences.push(difference(
                "hash",
                id,
                format!("content hash {copied} in the seller view, {hash} in the order view"),
            )),
            Some(_) => {}
        }
    }
    for (id, (seller, version, _)) in &kept {
        if !expected.contains_key(id) {
            differences.push(difference(
                "extra-rows",
                id,
                format!("seller {seller}'s order at version {version} is in no order view"),
            ));
        }
    }
    differences.sort_by(|a, b| (&a.id, &a.kind).cmp(&(&b.id, &b.kind)));
    Ok(differences)
}
