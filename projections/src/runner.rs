//! Runs a projection over the log: every event after its checkpoint, in commit order, each
//! applied exactly once. A batch's rows and the checkpoint after it are one transaction; when
//! anything fails the batch is rolled back and the runner reads again from the stored
//! checkpoint after a backoff, so it never moves past an event it did not apply.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use event_store::{Checkpoint, EventStore, RecordedEvent, Subscription};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::error::ProjectionError;
use crate::metrics::{LAG_EVENTS_COUNTED_MAX, ProjectionMetrics};
use crate::projection::Projection;
use crate::read_models::ReadModels;

/// Events read and applied in one transaction at most. Small enough that the transaction
/// stays short (a writing transaction holds back every reader of the log on PostgreSQL, see
/// ADR 1), large enough to amortise the commit.
pub const PROJECTION_BATCH_SIZE_MAX: usize = 200;
/// First wait after a failure; doubles up to the maximum.
const RETRY_BACKOFF_MIN_MS: u64 = 50;
const RETRY_BACKOFF_MAX_MS: u64 = 5_000;
/// How often an idle runner checks that its stored checkpoint is still where it left it (a
/// replay swaps in tables with their own checkpoint; a busy runner notices at its next batch).
const CHECKPOINT_RECHECK_INTERVAL_MS: u64 = 1_000;
/// How often a busy runner measures its lag; an idle one measures each time it rechecks.
const LAG_MEASURE_INTERVAL_MS: u64 = 1_000;

/// One projection's runner.
#[derive(Debug, Clone)]
pub struct Runner {
    store: EventStore,
    models: ReadModels,
    projection: Projection,
    metrics: ProjectionMetrics,
}

impl Runner {
    /// A runner of `projection` over `store`'s log, into the read models in the same database.
    pub fn new(store: EventStore, projection: Projection, metrics: ProjectionMetrics) -> Self {
        Self {
            models: ReadModels::new(&store),
            store,
            projection,
            metrics,
        }
    }

    /// Applies every event up to the end of the log as it is now, then returns the number of
    /// events read. For the command line and tests; a failure is returned, not retried.
    pub async fn catch_up(&self) -> Result<u64, ProjectionError> {
        let mut read = 0;
        let mut from = self.models.checkpoint(self.projection).await?;
        loop {
            let batch: Vec<Arc<RecordedEvent>> = self
                .store
                .read_after(from, PROJECTION_BATCH_SIZE_MAX)
                .await?
                .into_iter()
                .map(Arc::new)
                .collect();
            if batch.is_empty() {
                self.measure_lag(from).await?;
                return Ok(read);
            }
            from = self.apply(from, &batch).await?;
            read += batch.len() as u64;
        }
    }

    /// Runs until `shutdown` is cancelled, retrying every failure with backoff.
    pub async fn run(self, shutdown: CancellationToken) {
        let name = self.projection.name();
        let mut backoff = Backoff::default();
        tracing::info!(projection = name, "projection runner started");
        loop {
            let outcome = tokio::select! {
                () = shutdown.cancelled() => return,
                outcome = self.follow(&mut backoff) => outcome,
            };
            if let Err(err) = outcome {
                self.metrics.failures.with_label_values(&[name]).inc();
                tracing::error!(
                    projection = name,
                    error = %crate::ErrorChain(&err),
                    "projection batch failed; resuming from the stored checkpoint"
                );
                if let Ok(from) = self.models.checkpoint(self.projection).await {
                    // best effort: the lag gauges show a stuck projection
                    let _ = self.measure_lag(from).await;
                }
                if backoff.wait(&shutdown).await.is_none() {
                    return;
                }
            }
        }
    }

    /// Follows the log from the stored checkpoint; returns only on a failure.
    async fn follow(&self, backoff: &mut Backoff) -> Result<(), ProjectionError> {
        let mut from = self.models.checkpoint(self.projection).await?;
        let mut subscription: Subscription = self
            .store
            .subscribe(from, PROJECTION_BATCH_SIZE_MAX)
            .await?;
        self.measure_lag(from).await?;
        let mut measured = Instant::now();
        loop {
            let recheck = Duration::from_millis(CHECKPOINT_RECHECK_INTERVAL_MS);
            let Ok(batch) = tokio::time::timeout(recheck, subscription.next_batch()).await else {
                // idle: a replay may have swapped in tables at an earlier checkpoint
                if self.models.stored_checkpoint(self.projection).await? != from {
                    return Err(ProjectionError::CheckpointMoved(self.projection.name()));
                }
                self.measure_lag(from).await?;
                measured = Instant::now();
                continue;
            };
            from = self.apply(from, &batch?).await?;
            backoff.reset();
            if measured.elapsed() >= Duration::from_millis(LAG_MEASURE_INTERVAL_MS) {
                self.measure_lag(from).await?;
                measured = Instant::now();
            }
        }
    }

    async fn apply(
        &self,
        from: Checkpoint,
        batch: &[Arc<RecordedEvent>],
    ) -> Result<Checkpoint, ProjectionError> {
        let Some(last) = batch.last() else {
            return Ok(from);
        };
        self.models
            .apply_batch(self.projection, from, batch)
            .await?;
        self.metrics
            .applied
            .with_label_values(&[self.projection.name()])
            .inc_by(batch.len() as u64);
        Ok(last.checkpoint())
    }

    /// Sets the lag gauges: what is ready to read after `from`, counted without being read.
    async fn measure_lag(&self, from: Checkpoint) -> Result<(), ProjectionError> {
        let pending = self.store.pending(from, LAG_EVENTS_COUNTED_MAX).await?;
        let name = self.projection.name();
        let seconds = pending.oldest.map_or(0.0, |oldest| {
            (Utc::now() - oldest).num_milliseconds().max(0) as f64 / 1_000.0
        });
        self.metrics
            .lag_events
            .with_label_values(&[name])
            .set(i64::try_from(pending.events).unwrap_or(i64::MAX));
        self.metrics
            .lag_seconds
            .with_label_values(&[name])
            .set(seconds);
        Ok(())
    }
}

struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            next: Duration::from_millis(RETRY_BACKOFF_MIN_MS),
        }
    }
}

impl Backoff {
    fn reset(&mut self) {
        *self = Self::default();
    }

    /// Sleeps for the current backoff, then doubles it; `None` on shutdown.
    async fn wait(&mut self, shutdown: &CancellationToken) -> Option<()> {
        let wait = self.next;
        self.next = (self.next * 2).min(Duration::from_millis(RETRY_BACKOFF_MAX_MS));
        tokio::select! {
            () = shutdown.cancelled() => None,
            () = tokio::time::sleep(wait) => Some(()),
        }
    }
}
