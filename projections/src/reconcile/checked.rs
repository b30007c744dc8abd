//! What a reconcile has found so far, over one log or several shards' logs: each log's orders
//! checked against its views, then its SKUs against its view and the orders' holds.

use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use domain::{Order, Sku};
use event_store::{Checkpoint, EventStore};

use super::{
    HOT_VIEW, OrderStock, Placed, Progress, RECONCILE_BATCH_SIZE, Report, check_order, check_sku,
};
use crate::error::ProjectionError;
use crate::read_models::ReadModels;

/// Whether a log answers for the stream `aggregate_type`/`id`: with shards, the shard its
/// gene is read from (a shard keeps the streams of genes that moved away until the move is
/// cleaned up, ADR 42); everything on one database.
pub type Owns<'a> = &'a (dyn Fn(&str, &str) -> bool + Send + Sync);

/// Every stream: one database.
pub(super) fn owns_all(_: &str, _: &str) -> bool {
    true
}

/// What a reconcile has found so far, over one log or several.
pub(super) struct Checked<'r> {
    pub(super) report: &'r mut Report,
    pub(super) order_stock: &'r mut OrderStock,
    pub(super) now: DateTime<Utc>,
    /// The orders expected in all, for the progress.
    pub(super) total: u64,
}

impl Checked<'_> {
    /// Checks every order of `store` that it `owns` against its views, at `at`.
    pub(super) async fn orders(
        &mut self,
        store: &EventStore,
        models: &ReadModels,
        at: Checkpoint,
        owns: Owns<'_>,
        progress: &mut (dyn FnMut(Progress) + Send),
    ) -> Result<(), ProjectionError> {
        // each order is hot or archived: the two views hold each order once; counted at one
        // moment (an archive batch running meanwhile changes nothing here) and before the
        // log's orders are read, so that every order a row is counted for is among them: the
        // views have reached `at`, and may hold orders placed after it, but none the log lacks
        let [detail, archive] = models.order_row_counts().await?;
        let rows = detail + archive;
        let checked_before = self.report.orders_checked;
        let mut placed_later = 0;
        // orders of genes read from another shard, whose rows this one keeps until cleanup
        let mut elsewhere = 0;
        let mut after = String::new();
        loop {
            let ids = models
                .stream_ids(Order::TYPE, &after, RECONCILE_BATCH_SIZE)
                .await?;
            let Some(last) = ids.last() else { break };
            after.clone_from(last);
            for id in &ids {
                if !owns(Order::TYPE, id) {
                    elsewhere += 1;
                    continue;
                }
                let check = check_order(
                    store,
                    models,
                    id,
                    (at, self.now),
                    self.report,
                    self.order_stock,
                );
                if check.await? == Placed::Later {
                    placed_later += 1;
                }
            }
            progress(Progress {
                orders: self.report.orders_checked,
                total: self.total,
            });
        }
        let placed = i64::try_from(self.report.orders_checked - checked_before).unwrap_or(i64::MAX);
        if rows < placed || rows > placed.saturating_add(placed_later + elsewhere) {
            self.report.differ(
                "extra-rows",
                HOT_VIEW,
                "*",
                format!(
                    "{detail} rows and {archive} archived for {placed} orders placed up to \
                     position {} and {placed_later} after it",
                    at.position
                ),
            );
        }
        Ok(())
    }

    /// Checks every SKU of `store` that it `owns` against its view and the orders' holds.
    pub(super) async fn skus(
        &mut self,
        store: &EventStore,
        models: &ReadModels,
        at: Checkpoint,
        owns: Owns<'_>,
    ) -> Result<(), ProjectionError> {
        let mut after = String::new();
        loop {
            let ids = models
                .stream_ids(Sku::TYPE, &after, RECONCILE_BATCH_SIZE)
                .await?;
            let Some(last) = ids.last() else { break };
            after.clone_from(last);
            for id in ids.iter().filter(|id| owns(Sku::TYPE, id)) {
                let at_now = (at, self.now);
                check_sku(store, models, id, at_now, self.order_stock, self.report).await?;
            }
        }
        Ok(())
    }
}
