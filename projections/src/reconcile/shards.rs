//! Reconcile across shards (ADR 42): each shard's views compared with its log at the head it
//! had when reconcile started, and the stock invariant over every shard at once, since an
//! order's reservations are on its SKUs' shards. Each shard answers only for the streams of
//! the genes read from it: a shard keeps the streams of genes moved away until the move is
//! cleaned up, and those are compared where they are read.

use chrono::Utc;
use event_store::EventStore;

use super::{Checked, OrderStock, Owns, Progress, Report, ShardPosition, lagging, views_reached};
use crate::error::ProjectionError;
use crate::read_models::ReadModels;

/// One shard in a reconcile across shards.
pub struct Shard<'a> {
    /// Its name.
    pub name: String,
    /// Its log (and views, in the same database).
    pub store: &'a EventStore,
    /// The streams it answers for.
    pub owns: Owns<'a>,
}

/// Reads every shard's head, waits up to `wait` in all for each shard's views to reach it,
/// then compares each shard's views with its log and the stock with the orders of every
/// shard, each shard at the position its views reached. Only reads.
pub async fn reconcile_shards_when_caught_up(
    shards: &[Shard<'_>],
    wait: std::time::Duration,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<Report, ProjectionError> {
    let deadline = tokio::time::Instant::now() + wait;
    let mut report = Report::default();
    let mut positions = Vec::with_capacity(shards.len());
    let mut total = 0;
    for shard in shards {
        let head = shard.store.head().await?;
        let models = ReadModels::new(shard.store);
        let (at, reached) = views_reached(&models, head, deadline).await?;
        report
            .lagging
            .extend(lagging(reached, head).into_iter().map(|mut lag| {
                lag.shard = Some(shard.name.clone());
                lag
            }));
        let [detail, archive] = models.order_row_counts().await?;
        total += u64::try_from(detail + archive).unwrap_or(0);
        positions.push((models, at, head));
    }
    let mut order_stock = OrderStock::default();
    let mut checked = Checked {
        report: &mut report,
        order_stock: &mut order_stock,
        now: Utc::now(),
        total,
    };
    for (shard, (models, at, _)) in shards.iter().zip(&positions) {
        checked
            .orders(shard.store, models, *at, shard.owns, progress)
            .await?;
    }
    for (shard, (models, at, _)) in shards.iter().zip(&positions) {
        checked.skus(shard.store, models, *at, shard.owns).await?;
    }
    report.shards = shards
        .iter()
        .zip(&positions)
        .map(|(shard, (_, at, head))| ShardPosition {
            shard: shard.name.clone(),
            position: at.position,
            head: head.position,
        })
        .collect();
    if let Some(first) = report.shards.first() {
        report.position = first.position;
        report.head = first.head;
    }
    Ok(report)
}
