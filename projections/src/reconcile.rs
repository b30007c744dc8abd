//! `orders reconcile`: replays every order's events and compares the result with every view
//! that holds the order (the detail view, or the archive once it is archived: never both), and
//! checks the money and stock invariants.

use std::collections::BTreeMap;

use chrono::Utc;
use cqrs_es::Aggregate;
use domain::{Order, OrderEvent, OrderStatus, Sku};
use event_store::EventStore;
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
/// How long a view may trail its order's latest event before that counts as a difference
/// (events that arrive while reconcile runs are not differences).
const VIEW_LAG_TOLERANCE_SECS: i64 = 60;

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
    /// Orders replayed from the log.
    pub orders_checked: u64,
    /// Of those, orders found in the archive.
    pub orders_archived: u64,
    /// SKUs replayed from the log.
    pub skus_checked: u64,
    /// Every difference; empty when clean.
    pub differences: Vec<Difference>,
}

impl Report {
    /// Whether nothing differs.
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

/// Catches every projection up (safe beside a running server: its checkpoint is a
/// compare-and-set), then replays every order and SKU and compares.
pub async fn reconcile(store: &EventStore) -> Result<Report, ProjectionError> {
    let models = ReadModels::new(store);
    let metrics = ProjectionMetrics::unregistered().map_err(|e| {
        ProjectionError::Corrupt(format!("cannot create the runner's metrics: {e}"))
    })?;
    for projection in Projection::ALL {
        let runner = Runner::new(store.clone(), projection, metrics.clone());
        match runner.catch_up().await {
            // a server's runner applied the batch first: it is applied either way
            Ok(_) | Err(ProjectionError::CheckpointMoved(_)) => {}
            Err(err) => return Err(err),
        }
    }
    let mut report = Report::default();
    // units each SKU should hold for orders awaiting payment
    let mut open_units: BTreeMap<String, u64> = BTreeMap::new();
    let mut after = String::new();
    loop {
        let ids = models
            .stream_ids(Order::TYPE, &after, RECONCILE_BATCH_SIZE)
            .await?;
        let Some(last) = ids.last() else { break };
        after.clone_from(last);
        for id in &ids {
            check_order(store, &models, id, &mut report, &mut open_units).await?;
        }
    }
    // each order is hot or archived: the two views hold each order once; counted at one
    // moment, so an archive batch running meanwhile changes nothing here
    let [detail, archive] = models.order_row_counts().await?;
    let placed = i64::try_from(report.orders_checked).unwrap_or(i64::MAX);
    if detail + archive != placed {
        report.differ(
            "extra-rows",
            HOT_VIEW,
            "*",
            format!("{detail} rows and {archive} archived for {placed} placed orders"),
        );
    }
    let mut after = String::new();
    loop {
        let ids = models
            .stream_ids(Sku::TYPE, &after, RECONCILE_BATCH_SIZE)
            .await?;
        let Some(last) = ids.last() else { break };
        after.clone_from(last);
        for id in &ids {
            check_sku(store, &models, id, &open_units, &mut report).await?;
        }
    }
    Ok(report)
}

async fn check_order(
    store: &EventStore,
    models: &ReadModels,
    id: &str,
    report: &mut Report,
    open_units: &mut BTreeMap<String, u64>,
) -> Result<(), ProjectionError> {
    let events = store.read_stream(Order::TYPE, id).await?;
    let mut order = Order::default();
    let mut states = Vec::with_capacity(events.len());
    for event in &events {
        order.apply(event.decode::<OrderEvent>()?);
        states.push(OrderDocument::of(&order, event.sequence));
    }
    let Some(Some(latest)) = states.last() else {
        return Ok(()); // a rejected placement: no order, in no view
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
    if order.status() == Some(OrderStatus::PendingPayment) {
        for item in order.items() {
            *open_units.entry(item.sku.to_string()).or_default() += u64::from(item.quantity.get());
        }
    }
    let recorded_last = events.last().map(|e| e.recorded_at);
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
        if copy.version < latest.version
            && recorded_last
                .is_some_and(|t| (Utc::now() - t).num_seconds() > VIEW_LAG_TOLERANCE_SECS)
        {
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
    Ok(())
}

async fn check_sku(
    store: &EventStore,
    models: &ReadModels,
    id: &str,
    open_units: &BTreeMap<String, u64>,
    report: &mut Report,
) -> Result<(), ProjectionError> {
    let loaded = store.load::<Sku>(id).await?;
    if loaded.aggregate.sku().is_none() {
        return Ok(());
    }
    report.skus_checked += 1;
    let sku = &loaded.aggregate;
    let expected_open = open_units.get(id).copied().unwrap_or(0);
    if sku.reserved() != expected_open {
        report.differ(
            "reserved-stock",
            "log",
            id,
            format!(
                "{} units reserved, open orders hold {expected_open}",
                sku.reserved()
            ),
        );
    }
    let Some(row) = models.stock(id).await? else {
        report.differ("missing", "sku_stock", id, "the SKU is not in the view");
        return Ok(());
    };
    if row.available < 0 || row.reserved < 0 || row.sold < 0 {
        report.differ("negative-stock", "sku_stock", id, format!("{row:?}"));
    }
    if row.version == loaded.version {
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
