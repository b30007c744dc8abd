//! Runs a projection over the log under the event store's one follower
//! ([`event_store::follower`]): every event after its checkpoint, in commit order, each applied
//! exactly once. A batch's rows and the checkpoint after it are one transaction
//! ([`Checkpointing::WithRows`]); an event that keeps failing is parked as a dead letter and the
//! projection's checkpoint passes it, so one bad event does not stop the view.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use event_store::follower::{
    ATTEMPTS_BEFORE_PARKING_DEFAULT, Checkpointing, Follower, FollowerOptions, Handler,
    HandlerError,
};
use event_store::{Checkpoint, EventStore, RecordedEvent};
use tokio_util::sync::CancellationToken;

use crate::error::ProjectionError;
use crate::metrics::ProjectionMetrics;
use crate::projection::Projection;
use crate::read_models::ReadModels;

/// Events read and applied in one transaction at most. Small enough that the transaction
/// stays short (a writing transaction holds back every reader of the log on PostgreSQL, see
/// ADR 1), large enough to amortise the commit.
pub const PROJECTION_BATCH_SIZE_MAX: usize = 200;

/// A projection as a handler of the log.
#[derive(Debug)]
pub struct ProjectionHandler {
    models: ReadModels,
    projection: Projection,
    /// Whether the checkpoint's row was made: then it is only read (the idle follower reads
    /// it every second).
    created: AtomicBool,
}

impl Handler for ProjectionHandler {
    fn name(&self) -> &'static str {
        self.projection.name()
    }

    fn checkpointing(&self) -> Checkpointing {
        Checkpointing::WithRows
    }

    async fn stored_checkpoint(&self, _store: &EventStore) -> Result<Checkpoint, HandlerError> {
        if self.created.load(Ordering::Relaxed) {
            return Ok(self.models.stored_checkpoint(self.projection).await?);
        }
        let checkpoint = self.models.checkpoint(self.projection).await?;
        self.created.store(true, Ordering::Relaxed);
        Ok(checkpoint)
    }

    async fn handle(
        &self,
        from: Checkpoint,
        batch: &[Arc<RecordedEvent>],
    ) -> Result<(), HandlerError> {
        Ok(self
            .models
            .apply_batch(self.projection, from, batch)
            .await?)
    }

    async fn pass(&self, from: Checkpoint, to: Checkpoint) -> Result<(), HandlerError> {
        Ok(self.models.pass(self.projection, from, to).await?)
    }

    async fn retry(&self, _event: &Arc<RecordedEvent>) -> Result<(), HandlerError> {
        // an order's view folds its events in order: one applied out of order would be wrong
        Err(format!(
            "a view takes a parked event back by a rebuild: run `orders replay {}`, then \
             remove the dead letter",
            self.projection.name()
        )
        .into())
    }
}

/// One projection's runner.
pub struct Runner {
    follower: Follower<ProjectionHandler>,
}

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner")
            .field("projection", &self.follower.handler().projection)
            .finish()
    }
}

impl Runner {
    /// A runner of `projection` over `store`'s log, into the read models in the same database.
    pub fn new(store: EventStore, projection: Projection, metrics: ProjectionMetrics) -> Self {
        Self::with_parking(store, projection, metrics, ATTEMPTS_BEFORE_PARKING_DEFAULT)
    }

    /// [`new`](Self::new), parking an event after `attempts_before_parking` failures.
    pub fn with_parking(
        store: EventStore,
        projection: Projection,
        metrics: ProjectionMetrics,
        attempts_before_parking: u32,
    ) -> Self {
        let handler = ProjectionHandler {
            models: ReadModels::new(&store),
            projection,
            created: AtomicBool::new(false),
        };
        let options = FollowerOptions {
            batch_size: PROJECTION_BATCH_SIZE_MAX,
            attempts_before_parking,
        };
        Self {
            follower: Follower::new(store, handler, options, metrics.0),
        }
    }

    /// Applies every event up to the end of the log as it is now, then returns the number of
    /// events read. For the command line and tests; a failure is returned, not retried.
    pub async fn catch_up(&self) -> Result<u64, ProjectionError> {
        self.follower
            .catch_up()
            .await
            .map_err(|err| match err.downcast::<ProjectionError>() {
                Ok(err) => *err,
                Err(other) => ProjectionError::Corrupt(other.to_string()),
            })
    }

    /// Runs until `shutdown` is cancelled, retrying every failure with backoff.
    pub async fn run(self, shutdown: CancellationToken) {
        self.follower.run(shutdown).await;
    }
}
