//! `orders reconcile`: replays every order's events up to one position of the log and
//! compares the result with every view that holds the order (the detail view, or the archive
//! once it is archived: never both), and checks the money and stock invariants.
//!
//! The position is the log's head when reconcile starts, and the views are compared once they
//! have reached it: a busy system places, pays and cancels while reconcile reads, and
//! comparing a view with a log that has moved on reported lag as differences (orders placed a
//! moment ago "missing" from a view that had not applied them yet). A view that does not reach
//! the head within the wait is reported as lagging, apart from the differences, and the
//! comparison is made at the position every view has reached.
//!
//! The stock invariant (every reserved unit is held for an order awaiting payment) compares
//! orders and SKUs at that position too (ADR 32). A reservation that its order at that
//! position does not explain is not a difference when what explains it is still on its way:
//! its order or its SKU has changed since, or its order's last event is younger than the
//! reactions' tolerance (the reactions are not views, and are not waited for).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use domain::{Order, OrderEvent, OrderStatus, Sku, SkuEvent};
use event_store::{Checkpoint, EventStore};
use serde::Serialize;

use crate::backend::OrderCopy;
use crate::document::{OrderDocument, micros};
use crate::error::ProjectionError;
use crate::metrics::ProjectionMetrics;
use crate::projection::Projection;
use crate::read_models::ReadModels;
use crate::runner::Runner;

/// Streams whose ids are read from the log at once.
const RECONCILE_BATCH_SIZE: u32 = 500;
/// The view that holds an order that is not archived (the buyer's and the seller's lists are
/// its indexes, ADR 13).
const HOT_VIEW: &str = "order_detail";
/// The view that holds an archived order, alone.
const ARCHIVE_VIEW: &str = "order_archive";
/// How often reconcile looks at the views' checkpoints while it waits for them.
const VIEW_POLL_INTERVAL_MS: u64 = 100;

/// How long the reactions may take to end a reservation after its order's last event (a
/// payment deducts, a cancellation or a rejection releases) or a placement to place the order
/// after reserving, before a reservation no open order holds counts as a difference.
const REACTION_LAG_TOLERANCE_SECS: i64 = 60;

/// What the orders say of the stock at the position the check compares at.
#[derive(Debug, Default)]
struct OrderStock {
    /// Units each order awaiting payment holds, by SKU and order id.
    open: BTreeMap<String, BTreeMap<String, u64>>,
    /// Orders whose fate may still move a reservation: an event after the position, or a
    /// last event younger than [`REACTION_LAG_TOLERANCE_SECS`].
    unsettled: BTreeSet<String>,
}

/// One difference between the log and a view, or a broken invariant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Difference {
    /// What kind: `missing`, `duplicate` (archived and hot at once), `hash`, `document`,
    /// `columns` (a list's key or filter column differs from the document), `version`,
    /// `behind`, `extra-rows`, `stock`, `negative-stock`, `reserved-stock`,
    /// `paid-and-cancelled`.
    pub kind: String,
    /// Which view (`order_detail`, `order_archive`, `sku_stock`) or `log`.
    pub view: String,
    /// The order id or SKU.
    pub id: String,
    /// What differs.
    pub detail: String,
}

/// What reconcile found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// The log position the views were compared at.
    pub position: i64,
    /// The log's head when reconcile started (the position, unless a view lagged).
    pub head: i64,
    /// Orders placed up to the position and replayed from the log.
    pub orders_checked: u64,
    /// Of those, orders found in the archive.
    pub orders_archived: u64,
    /// SKUs replayed from the log.
    pub skus_checked: u64,
    /// Every difference; empty when clean.
    pub differences: Vec<Difference>,
    /// The views that had not reached the head when reconcile stopped waiting: not a
    /// difference, but the comparison stopped short of the head.
    pub lagging: Vec<Lag>,
    /// Across shards: where each shard's log was compared (`position` and `head` are then
    /// the first shard's).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub shards: Vec<ShardPosition>,
}

/// Where one shard's log was compared, in a reconcile across shards.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ShardPosition {
    /// The shard.
    pub shard: String,
    /// The position its views were compared at.
    pub position: i64,
    /// Its log's head when reconcile started.
    pub head: i64,
}

/// A view behind the head of the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Lag {
    /// The projection (`orders`, `stock`).
    pub projection: String,
    /// The position it had reached.
    pub position: i64,
    /// The shard whose view it is, when reconcile ran across shards.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shard: Option<String>,
}

impl Report {
    /// Whether nothing differs (lag is no difference: see [`Report::lagging`]).
    pub fn is_clean(&self) -> bool {
        self.differences.is_empty()
    }

    fn differ(&mut self, kind: &str, view: &str, id: &str, detail: impl Into<String>) {
        self.differences.push(Difference {
            kind: kind.to_owned(),
            view: view.to_owned(),
            id: id.to_owned(),
            detail: detail.into(),
        });
    }
}

/// Orders checked so far, of about how many (the rows of the order views when the check
/// started), for a progress display.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    /// Orders checked.
    pub orders: u64,
    /// Orders expected.
    pub total: u64,
}

/// Reads the head, catches every projection up to it by applying what it lacks (safe beside a
/// running server: its checkpoint is a compare-and-set), then compares at the head. Needs
/// write access to the views; for when no server follows the log.
pub async fn reconcile(store: &EventStore) -> Result<Report, ProjectionError> {
    reconcile_with_progress(store, &mut |_| {}).await
}

/// [`reconcile`], telling `progress` of the comparison as it goes (the catching up before it
/// is one step: its events are not counted).
pub async fn reconcile_with_progress(
    store: &EventStore,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<Report, ProjectionError> {
    let at = store.head().await?;
    let metrics = ProjectionMetrics::unregistered().map_err(|e| {
        ProjectionError::Corrupt(format!("cannot create the runner's metrics: {e}"))
    })?;
    for projection in Projection::ALL {
        let runner = Runner::new(store.clone(), projection, metrics.clone());
        match runner.catch_up().await {
            // a server's runner applied the batch first: it is applied either way
            Ok(_) | Err(ProjectionError::CheckpointMoved(..)) => {}
            Err(err) => return Err(err),
        }
    }
    let models = ReadModels::new(store);
    let mut report = reconcile_at(store, &models, at, Utc::now(), progress).await?;
    report.head = at.position;
    Ok(report)
}

/// Reads the head, waits up to `wait` for every view to reach it (a server's projections
/// apply the events), then compares at the head, or, when a view is still behind, at the
/// position every view has reached, reporting the lag. Only reads.
pub async fn reconcile_when_caught_up(
    store: &EventStore,
    wait: std::time::Duration,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<Report, ProjectionError> {
    let head = store.head().await?;
    let models = ReadModels::new(store);
    let deadline = tokio::time::Instant::now() + wait;
    let (at, reached) = views_reached(&models, head, deadline).await?;
    let mut report = reconcile_at(store, &models, at, Utc::now(), progress).await?;
    report.head = head.position;
    report.lagging = lagging(reached, head);
    Ok(report)
}

/// Waits until every view of `models` has reached `head`, at most until `deadline`: the
/// position every view has reached (at most `head`), and where each got.
async fn views_reached(
    models: &ReadModels,
    head: Checkpoint,
    deadline: tokio::time::Instant,
) -> Result<(Checkpoint, Vec<(Projection, Checkpoint)>), ProjectionError> {
    let reached = loop {
        let mut reached = Vec::with_capacity(Projection::ALL.len());
        for projection in Projection::ALL {
            reached.push((projection, models.stored_checkpoint(projection).await?));
        }
        if reached.iter().all(|(_, at)| *at >= head) || tokio::time::Instant::now() >= deadline {
            break reached;
        }
        tokio::time::sleep(std::time::Duration::from_millis(VIEW_POLL_INTERVAL_MS)).await;
    };
    let at = reached
        .iter()
        .map(|(_, at)| *at)
        .chain([head])
        .min()
        .unwrap_or(head);
    Ok((at, reached))
}

/// The views of `reached` short of `head`.
fn lagging(reached: Vec<(Projection, Checkpoint)>, head: Checkpoint) -> Vec<Lag> {
    reached
        .into_iter()
        .filter(|(_, at)| *at < head)
        .map(|(projection, at)| Lag {
            projection: projection.name().to_owned(),
            position: at.position,
            shard: None,
        })
        .collect()
}

/// Compares every view with the log, and the stock with the orders as they were at `at`;
/// `now` dates what is too recent to have settled.
async fn reconcile_at(
    store: &EventStore,
    models: &ReadModels,
    at: Checkpoint,
    now: DateTime<Utc>,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<Report, ProjectionError> {
    let mut report = Report {
        position: at.position,
        ..Report::default()
    };
    let mut order_stock = OrderStock::default();
    let [detail, archive] = models.order_row_counts().await?;
    let total = u64::try_from(detail + archive).unwrap_or(0);
    let mut checked = Checked {
        report: &mut report,
        order_stock: &mut order_stock,
        now,
        total,
    };
    checked
        .orders(store, models, at, &owns_all, progress)
        .await?;
    checked.skus(store, models, at, &owns_all).await?;
    Ok(report)
}

/// When an order stream's order was placed, as seen from the compared position.
#[derive(Debug, PartialEq, Eq)]
enum Placed {
    /// Up to the position (or never: a rejected placement).
    Before,
    /// After it: not compared.
    Later,
}

async fn check_order(
    store: &EventStore,
    models: &ReadModels,
    id: &str,
    (at, now): (Checkpoint, DateTime<Utc>),
    report: &mut Report,
    order_stock: &mut OrderStock,
) -> Result<Placed, ProjectionError> {
    let events = store.read_stream(Order::TYPE, id).await?;
    let mut order = Order::default();
    let mut states = Vec::with_capacity(events.len());
    let mut order_at = None;
    for event in &events {
        if event.checkpoint() > at && order_at.is_none() {
            order_at = Some(order.clone());
        }
        order.apply(event.decode::<OrderEvent>()?);
        states.push(OrderDocument::of(&order, event.sequence));
    }
    let moved_since = order_at.is_some();
    let order_at = order_at.unwrap_or_else(|| order.clone());
    let recorded_last = events.last().map(|e| e.recorded_at);
    if moved_since
        || recorded_last.is_some_and(|t| (now - t).num_seconds() <= REACTION_LAG_TOLERANCE_SECS)
    {
        order_stock.unsettled.insert(id.to_owned());
    }
    if order_at.status() == Some(OrderStatus::PendingPayment) {
        for item in order_at.items() {
            *order_stock
                .open
                .entry(item.sku.to_string())
                .or_default()
                .entry(id.to_owned())
                .or_default() += u64::from(item.quantity.get());
        }
    }
    // the order as the log had it at the compared position: what the views have reached
    let version_at = events.iter().filter(|e| e.checkpoint() <= at).count();
    let Some(Some(latest)) = version_at.checked_sub(1).and_then(|i| states.get(i)) else {
        // placed after the position, or a rejected placement: no order, in no view
        return Ok(if states.iter().any(Option::is_some) {
            Placed::Later
        } else {
            Placed::Before
        });
    };
    report.orders_checked += 1;
    if order.status() == Some(OrderStatus::Cancelled) {
        if order.payment().is_some() {
            report.differ(
                "paid-and-cancelled",
                "log",
                id,
                "a paid order was cancelled",
            );
        }
        let unrefunded = order
            .after_close_payments()
            .iter()
            .filter(|p| p.refund_id.is_none())
            .count();
        if unrefunded > 0 {
            report.differ(
                "paid-and-cancelled",
                "log",
                id,
                format!("{unrefunded} payment(s) after close without a refund"),
            );
        }
    }
    let copies = models.order_copies(id).await?;
    let archived = copies.iter().any(|c| c.view == ARCHIVE_VIEW);
    let expected_view = if archived {
        report.orders_archived += 1;
        ARCHIVE_VIEW
    } else {
        HOT_VIEW
    };
    if !copies.iter().any(|c| c.view == expected_view) {
        report.differ("missing", expected_view, id, "the order is not in the view");
    }
    for OrderCopy {
        view,
        order: copy,
        buyer_id,
        seller_id,
        status,
    } in copies
    {
        if view != expected_view {
            report.differ(
                "duplicate",
                &view,
                id,
                "the order is archived and in this hot view too",
            );
        }
        // the log's state at the view's version: a view that is merely behind is compared
        // with what it has applied, and reported only when it trails for too long
        let at = usize::try_from(copy.version).unwrap_or(usize::MAX);
        let Some(Some(expected)) = at.checked_sub(1).and_then(|i| states.get(i)) else {
            report.differ(
                "version",
                &view,
                id,
                format!("version {} is not an order version", copy.version),
            );
            continue;
        };
        if copy.version < latest.version {
            report.differ(
                "behind",
                &view,
                id,
                format!("at version {} of {}", copy.version, latest.version),
            );
        }
        let expected_hash = expected.content_hash();
        if copy.content_hash != expected_hash {
            report.differ(
                "hash",
                &view,
                id,
                format!("stored {} replayed {expected_hash}", copy.content_hash),
            );
        }
        if copy.document.content_hash() != expected_hash {
            report.differ(
                "document",
                &view,
                id,
                "the stored document is not the replayed one",
            );
        }
        // what the lists find the order by: a wrong owner would list it to someone else
        let columns = (&buyer_id, &seller_id, &status, copy.placed_at_us);
        let replayed = (
            &expected.buyer_id,
            &expected.seller_id,
            &expected.status,
            micros(expected.placed_at),
        );
        if columns != replayed {
            report.differ(
                "columns",
                &view,
                id,
                format!("stored {columns:?} replayed {replayed:?}"),
            );
        }
    }
    Ok(Placed::Before)
}

async fn check_sku(
    store: &EventStore,
    models: &ReadModels,
    id: &str,
    (at, now): (Checkpoint, DateTime<Utc>),
    order_stock: &OrderStock,
    report: &mut Report,
) -> Result<(), ProjectionError> {
    let events = store.read_stream(Sku::TYPE, id).await?;
    let mut sku = Sku::default();
    // units held for each order at `at`, and the orders whose reservation moved since (or was
    // made too recently for its placement to have finished)
    let mut held: BTreeMap<String, u64> = BTreeMap::new();
    let mut unsettled: BTreeSet<String> = BTreeSet::new();
    for event in &events {
        let decoded = event.decode::<SkuEvent>()?;
        let (order_id, reserved) = match &decoded {
            SkuEvent::StockReserved(e) => (Some(e.order_id), Some(u64::from(e.quantity.get()))),
            SkuEvent::StockReleased(e) => (Some(e.order_id), None),
            SkuEvent::StockDeducted(e) => (Some(e.order_id), None),
            _ => (None, None),
        };
        if let Some(order_id) = order_id {
            let order_id = order_id.to_string();
            let recent = (now - event.recorded_at).num_seconds() <= REACTION_LAG_TOLERANCE_SECS;
            if event.checkpoint() > at || recent {
                unsettled.insert(order_id.clone());
            }
            if event.checkpoint() <= at {
                match reserved {
                    Some(units) => held.insert(order_id, units),
                    None => held.remove(&order_id),
                };
            }
        }
        sku.apply(decoded);
    }
    let version = events.last().map_or(0, |e| e.sequence);
    if sku.sku().is_none() {
        return Ok(());
    }
    report.skus_checked += 1;
    let no_orders = BTreeMap::new();
    let open = order_stock.open.get(id).unwrap_or(&no_orders);
    let settled = |order_id: &String| {
        !unsettled.contains(order_id) && !order_stock.unsettled.contains(order_id)
    };
    let unexplained: u64 = held
        .iter()
        .filter(|(order_id, units)| open.get(*order_id) != Some(*units) && settled(order_id))
        .map(|(_, units)| units)
        .sum();
    let missing: u64 = open
        .iter()
        .filter(|(order_id, units)| held.get(*order_id) != Some(*units) && settled(order_id))
        .map(|(_, units)| units)
        .sum();
    if unexplained > 0 || missing > 0 {
        let held_units: u64 = held.values().sum();
        let open_units: u64 = open.values().sum();
        report.differ(
            "reserved-stock",
            "log",
            id,
            format!(
                "{held_units} units reserved, open orders hold {open_units} \
                 ({unexplained} held for no open order, {missing} of open orders not held)"
            ),
        );
    }
    let Some(row) = models.stock(id).await? else {
        // a SKU created after the compared position is not in a view that has not reached it
        // yet: lag, which the report tells apart, not a difference
        if events.first().is_some_and(|e| e.checkpoint() <= at) {
            report.differ("missing", "sku_stock", id, "the SKU is not in the view");
        }
        return Ok(());
    };
    if row.available < 0 || row.reserved < 0 || row.sold < 0 {
        report.differ("negative-stock", "sku_stock", id, format!("{row:?}"));
    }
    if row.version == version {
        let view = (row.available, row.reserved, row.sold);
        let log = (sku.available(), sku.reserved(), sku.sold());
        let same = u64::try_from(view.0) == Ok(log.0)
            && u64::try_from(view.1) == Ok(log.1)
            && u64::try_from(view.2) == Ok(log.2);
        if !same {
            report.differ(
                "stock",
                "sku_stock",
                id,
                format!("view {view:?}, log {log:?}"),
            );
        }
    }
    Ok(())
}

mod checked;
mod shards;

pub use checked::Owns;
use checked::{Checked, owns_all};

pub use shards::{Shard, reconcile_shards_when_caught_up};

#[cfg(test)]
mod tests;
