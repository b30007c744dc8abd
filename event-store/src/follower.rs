//! The one follower of the log: projections, reactions and payment deadlines (and the NATS
//! relay to come) read the log through it, each with a [`Handler`].
//!
//! It reads every event after the handler's checkpoint, in commit order, in batches; retries a
//! failure with backoff; measures lag; and keeps the checkpoint by the handler's
//! [`Checkpointing`]: in the same transaction as the rows (read models: exactly once), or saved
//! by the follower after the effect (reactions, whose commands are deduplicated: at least
//! once). A batch that fails is tried again one event at a time; an event that fails
//! [`FollowerOptions::attempts_before_parking`] times while the database answers is parked as
//! a dead letter with its error, and the follower goes on. An operator asks for a parked event
//! to be run again (`orders dead-letters retry`), and the node running the follower does so.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::{Checkpoint, ErrorChain, EventStore, RecordedEvent, Subscription};

mod metrics;
mod superseded;

pub use metrics::{DEFAULT_SHARD, FollowerMetrics};
pub use superseded::Superseded;
use superseded::is_superseded;

/// What a handler's failure is.
pub type HandlerError = Box<dyn std::error::Error + Send + Sync>;

/// Most events counted when measuring a follower's lag; beyond it the gauge shows this.
pub const LAG_EVENTS_COUNTED_MAX: usize = 1_000;
/// Attempts at one event, by default, before it is parked.
pub const ATTEMPTS_BEFORE_PARKING_DEFAULT: u32 = 10;
/// First wait after a failure; doubles up to the maximum.
const RETRY_BACKOFF_MIN_MS: u64 = 50;
const RETRY_BACKOFF_MAX_MS: u64 = 5_000;
/// How long a follower waits for a batch before it does its idle work (checking its stored
/// checkpoint, measuring lag, running the dead letters an operator asked to retry).
const IDLE_CHECK_INTERVAL_MS: u64 = 1_000;
/// How often a busy follower measures its lag and looks for retries.
const HOUSEKEEPING_INTERVAL_MS: u64 = 1_000;
/// Longest a checkpoint saved after the effect stays behind what was handled.
const CHECKPOINT_SAVE_INTERVAL_MS: u64 = 200;

/// Where a handler's checkpoint is kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Checkpointing {
    /// The handler writes it in the same transaction as its rows ([`Handler::handle`] moves it
    /// from `from` to the batch's last event, or fails): every event takes effect once.
    WithRows,
    /// The follower saves it, by the handler's name, after the effect (at most every
    /// [`CHECKPOINT_SAVE_INTERVAL_MS`]): every event takes effect at least once, so the
    /// handler's effects must be idempotent.
    AfterEffect,
}

/// What a follower does with the log.
pub trait Handler: Send + Sync + 'static {
    /// The handler's name: its checkpoint's, its dead letters' and its metrics' label.
    fn name(&self) -> &'static str;

    /// Where its checkpoint is kept.
    fn checkpointing(&self) -> Checkpointing;

    /// The stored checkpoint, for [`Checkpointing::WithRows`]; the follower keeps the others'.
    fn stored_checkpoint(
        &self,
        store: &EventStore,
    ) -> impl Future<Output = Result<Checkpoint, HandlerError>> + Send {
        let name = self.name();
        async move { Ok(store.load_checkpoint(name).await?) }
    }

    /// Handles `batch`, the events after `from` in commit order: all of it or an error (then
    /// the batch is tried again, so it must take effect once or be idempotent).
    fn handle(
        &self,
        from: Checkpoint,
        batch: &[Arc<RecordedEvent>],
    ) -> impl Future<Output = Result<(), HandlerError>> + Send;

    /// For [`Checkpointing::WithRows`]: moves the checkpoint from `from` to `to` with no rows,
    /// past a parked event.
    fn pass(
        &self,
        from: Checkpoint,
        to: Checkpoint,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        let _ = (from, to);
        async { Ok(()) }
    }

    /// Runs a parked event again, outside the order of the log; `Err` with why when it fails
    /// again or cannot be run alone.
    fn retry(
        &self,
        event: &Arc<RecordedEvent>,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send;
}

/// Waits until `event` is `linger` old by its recorded time: a handler that lingers over a
/// batch lets the next one gather meanwhile. A clock behind the writer's waits at most
/// `linger` itself.
pub async fn linger(event: &RecordedEvent, linger: Duration) {
    let age = (chrono::Utc::now() - event.recorded_at)
        .to_std()
        .unwrap_or(Duration::ZERO);
    tokio::time::sleep(linger.saturating_sub(age)).await;
}

/// How a follower reads and when it parks.
#[derive(Clone, Copy, Debug)]
pub struct FollowerOptions {
    /// Events read per batch.
    pub batch_size: usize,
    /// Attempts at one event before it is parked (at least 1).
    pub attempts_before_parking: u32,
}

/// A handler following the log.
pub struct Follower<H> {
    store: EventStore,
    handler: H,
    options: FollowerOptions,
    metrics: FollowerMetrics,
}

/// Why following stopped before the end (resumed from the stored checkpoint).
enum Stop {
    /// Shutdown was requested.
    Shutdown,
    /// A failure; reading starts again from the stored checkpoint.
    Failed(HandlerError),
}

impl From<HandlerError> for Stop {
    fn from(err: HandlerError) -> Self {
        Self::Failed(err)
    }
}

impl From<crate::StoreError> for Stop {
    fn from(err: crate::StoreError) -> Self {
        Self::Failed(err.into())
    }
}

impl<H: Handler> Follower<H> {
    /// `handler` following `store`'s log.
    pub fn new(
        store: EventStore,
        handler: H,
        options: FollowerOptions,
        metrics: FollowerMetrics,
    ) -> Self {
        Self {
            store,
            handler,
            options,
            metrics,
        }
    }

    /// The handler.
    pub fn handler(&self) -> &H {
        &self.handler
    }

    async fn checkpoint(&self) -> Result<Checkpoint, HandlerError> {
        match self.handler.checkpointing() {
            Checkpointing::WithRows => self.handler.stored_checkpoint(&self.store).await,
            Checkpointing::AfterEffect => {
                Ok(self.store.load_checkpoint(self.handler.name()).await?)
            }
        }
    }

    /// Handles every event up to the end of the log as it is now and answers how many were
    /// read; a failure is returned, not retried or parked. For the command line and tests.
    pub async fn catch_up(&self) -> Result<u64, HandlerError> {
        let mut read = 0;
        let mut from = self.checkpoint().await?;
        loop {
            let batch: Vec<Arc<RecordedEvent>> = self
                .store
                .read_after(from, self.options.batch_size)
                .await?
                .into_iter()
                .map(Arc::new)
                .collect();
            let Some(last) = batch.last() else {
                self.measure_lag(from).await?;
                return Ok(read);
            };
            let to = last.checkpoint();
            self.handler.handle(from, &batch).await?;
            if self.handler.checkpointing() == Checkpointing::AfterEffect {
                self.store.save_checkpoint(self.handler.name(), to).await?;
            }
            from = to;
            read += batch.len() as u64;
        }
    }

    /// Follows the log until `shutdown` is cancelled, retrying every failure with backoff.
    pub async fn run(self, shutdown: CancellationToken) {
        let name = self.handler.name();
        let mut backoff = Backoff::default();
        tracing::info!(follower = name, "following the log");
        loop {
            let err = match self.follow(&shutdown, &mut backoff).await {
                Stop::Shutdown => return,
                Stop::Failed(err) => err,
            };
            if is_superseded(&*err) {
                tracing::debug!(
                    follower = name,
                    "another runner moved the checkpoint first; resuming from it"
                );
            } else {
                self.metrics
                    .failures
                    .with_label_values(&self.metrics.labels(name))
                    .inc();
                tracing::warn!(
                    follower = name,
                    error = %ErrorChain(&*err),
                    "following failed; resuming from the stored checkpoint"
                );
            }
            if let Ok(from) = self.checkpoint().await {
                // best effort: the lag gauges show a stuck follower
                let _ = self.measure_lag(from).await;
            }
            if backoff.wait(&shutdown).await.is_none() {
                return;
            }
        }
    }

    /// Follows the log from the stored checkpoint; returns only on shutdown (having saved
    /// what it handled) or a failure that is not an event's own. Shutdown is noticed between
    /// batches and while waiting: a batch being handled is finished first.
    async fn follow(&self, shutdown: &CancellationToken, backoff: &mut Backoff) -> Stop {
        let mut from = match self.checkpoint().await {
            Ok(from) => from,
            Err(err) => return Stop::Failed(err),
        };
        if let Err(err) = self.measure_lag(from).await {
            return Stop::Failed(err);
        }
        let mut subscription: Subscription =
            match self.store.subscribe(from, self.options.batch_size).await {
                Ok(subscription) => subscription,
                Err(err) => return err.into(),
            };
        let mut saved = from;
        let mut saved_at = Instant::now();
        let mut housekeeping = Instant::now();
        loop {
            // what was handled and not saved is saved soon after the log falls quiet
            let idle = Duration::from_millis(
                if self.handler.checkpointing() == Checkpointing::AfterEffect && saved != from {
                    CHECKPOINT_SAVE_INTERVAL_MS
                } else {
                    IDLE_CHECK_INTERVAL_MS
                },
            );
            let next = tokio::select! {
                biased;
                () = shutdown.cancelled() => {
                    self.save_on_stop(from, saved).await;
                    return Stop::Shutdown;
                }
                next = tokio::time::timeout(idle, subscription.next_batch()) => next,
            };
            let batch = match next {
                Ok(Ok(batch)) => batch,
                Ok(Err(err)) => return err.into(),
                Err(_) => {
                    if let Err(stop) = self.idle(from, &mut saved, &mut saved_at).await {
                        return stop;
                    }
                    housekeeping = Instant::now();
                    continue;
                }
            };
            from = match self.handle(from, &batch, shutdown, backoff).await {
                Ok(to) => to,
                Err(stop) => return stop,
            };
            backoff.reset();
            if self.handler.checkpointing() == Checkpointing::AfterEffect
                && saved_at.elapsed() >= Duration::from_millis(CHECKPOINT_SAVE_INTERVAL_MS)
            {
                if let Err(err) = self.store.save_checkpoint(self.handler.name(), from).await {
                    return err.into();
                }
                saved = from;
                saved_at = Instant::now();
            }
            if housekeeping.elapsed() >= Duration::from_millis(HOUSEKEEPING_INTERVAL_MS) {
                if let Err(stop) = self.housekeeping(from).await {
                    return stop;
                }
                housekeeping = Instant::now();
            }
        }
    }

    /// What an idle follower does: saves what it handled, checks that its stored checkpoint
    /// is still where it left it (a replay swaps in tables with their own checkpoint),
    /// measures its lag and runs the retries asked for.
    async fn idle(
        &self,
        from: Checkpoint,
        saved: &mut Checkpoint,
        saved_at: &mut Instant,
    ) -> Result<(), Stop> {
        match self.handler.checkpointing() {
            Checkpointing::AfterEffect if *saved != from => {
                self.store
                    .save_checkpoint(self.handler.name(), from)
                    .await?;
                *saved = from;
                *saved_at = Instant::now();
            }
            Checkpointing::WithRows => {
                let stored = self.handler.stored_checkpoint(&self.store).await?;
                if stored != from {
                    return Err(Stop::Failed(
                        format!(
                            "the checkpoint of {} moved (a replay swapped its tables in)",
                            self.handler.name()
                        )
                        .into(),
                    ));
                }
            }
            Checkpointing::AfterEffect => {}
        }
        self.housekeeping(from).await
    }

    /// Saves what an [`Checkpointing::AfterEffect`] follower handled since `saved`, so that a
    /// restart does not handle it again.
    async fn save_on_stop(&self, from: Checkpoint, saved: Checkpoint) {
        if self.handler.checkpointing() == Checkpointing::AfterEffect && saved != from {
            if let Err(err) = self.store.save_checkpoint(self.handler.name(), from).await {
                tracing::warn!(follower = self.handler.name(), error = %err, "saving the checkpoint failed on shutdown");
            }
        }
    }

    async fn housekeeping(&self, from: Checkpoint) -> Result<(), Stop> {
        self.measure_lag(from).await?;
        self.run_retries().await?;
        Ok(())
    }

    /// Handles `batch` (read after `from`); when it fails, one event at a time, parking an
    /// event that keeps failing while the database answers. Answers the checkpoint after it.
    async fn handle(
        &self,
        from: Checkpoint,
        batch: &[Arc<RecordedEvent>],
        shutdown: &CancellationToken,
        backoff: &mut Backoff,
    ) -> Result<Checkpoint, Stop> {
        let name = self.handler.name();
        let Some(last) = batch.last() else {
            return Ok(from);
        };
        let err = match self.handler.handle(from, batch).await {
            Ok(()) => {
                self.metrics
                    .handled
                    .with_label_values(&self.metrics.labels(name))
                    .inc_by(batch.len() as u64);
                return Ok(last.checkpoint());
            }
            Err(err) => err,
        };
        self.metrics
            .failures
            .with_label_values(&self.metrics.labels(name))
            .inc();
        self.resume_if_moved(from, err).await?;
        let mut from = from;
        for event in batch {
            let mut attempts: u32 = 0;
            loop {
                let single = std::slice::from_ref(event);
                let err = match self.handler.handle(from, single).await {
                    Ok(()) => break,
                    Err(err) => err,
                };
                attempts += 1;
                self.metrics
                    .failures
                    .with_label_values(&self.metrics.labels(name))
                    .inc();
                let text = ErrorChain(&*err).to_string();
                self.resume_if_moved(from, err).await?;
                tracing::warn!(follower = name, position = event.position, attempts, error = %text, "handling an event failed");
                // the event's own failure, not the database's: park it and go on
                if attempts >= self.options.attempts_before_parking.max(1)
                    && self.store.ping().await.is_ok()
                {
                    self.park(from, event, &text, attempts).await?;
                    break;
                }
                if backoff.wait(shutdown).await.is_none() {
                    return Err(Stop::Shutdown);
                }
            }
            self.metrics
                .handled
                .with_label_values(&self.metrics.labels(name))
                .inc();
            from = event.checkpoint();
        }
        Ok(from)
    }

    /// When another node (or a replay) moved a [`Checkpointing::WithRows`] checkpoint from
    /// `from`, the failure `err` is that race, not the events': stop, to resume from the
    /// stored checkpoint.
    async fn resume_if_moved(&self, from: Checkpoint, err: HandlerError) -> Result<(), Stop> {
        if self.handler.checkpointing() == Checkpointing::WithRows
            && self.handler.stored_checkpoint(&self.store).await? != from
        {
            return Err(Stop::Failed(err));
        }
        Ok(())
    }

    async fn park(
        &self,
        from: Checkpoint,
        event: &RecordedEvent,
        error: &str,
        attempts: u32,
    ) -> Result<(), Stop> {
        let name = self.handler.name();
        let now_ms = chrono::Utc::now().timestamp_millis();
        self.store
            .park(name, event, error, u64::from(attempts), now_ms)
            .await?;
        if self.handler.checkpointing() == Checkpointing::WithRows {
            self.handler.pass(from, event.checkpoint()).await?;
        }
        self.metrics
            .dead_letters
            .with_label_values(&self.metrics.labels(name))
            .inc();
        tracing::error!(
            follower = name,
            position = event.position,
            aggregate_type = %event.aggregate_type,
            aggregate_id = %event.aggregate_id,
            event_type = %event.event_type,
            attempts,
            error,
            "parked an event as a dead letter; going on"
        );
        Ok(())
    }

    /// Runs the parked events of this follower that an operator asked to retry: a success
    /// removes the dead letter, a failure records its error again.
    async fn run_retries(&self) -> Result<(), Stop> {
        let name = self.handler.name();
        for letter in self.store.dead_letters(Some(name), true).await? {
            let event = Arc::new(self.store.parked_event(&letter).await?);
            match self.handler.retry(&event).await {
                Ok(()) => {
                    self.store.remove_dead_letter(letter.id).await?;
                    tracing::info!(
                        follower = name,
                        dead_letter = letter.id,
                        "a retried dead letter was handled"
                    );
                }
                Err(err) => {
                    let text = ErrorChain(&*err).to_string();
                    let now_ms = chrono::Utc::now().timestamp_millis();
                    self.store.park(name, &event, &text, 1, now_ms).await?;
                    tracing::warn!(follower = name, dead_letter = letter.id, error = %text, "a retried dead letter failed again");
                }
            }
        }
        Ok(())
    }

    /// Sets the lag gauges: what is ready to read after `from`, counted without being read.
    async fn measure_lag(&self, from: Checkpoint) -> Result<(), HandlerError> {
        let pending = self.store.pending(from, LAG_EVENTS_COUNTED_MAX).await?;
        let name = self.handler.name();
        let seconds = pending.oldest.map_or(0.0, |oldest| {
            (chrono::Utc::now() - oldest).num_milliseconds().max(0) as f64 / 1_000.0
        });
        self.metrics
            .lag_events
            .with_label_values(&self.metrics.labels(name))
            .set(i64::try_from(pending.events).unwrap_or(i64::MAX));
        self.metrics
            .lag_seconds
            .with_label_values(&self.metrics.labels(name))
            .set(seconds);
        self.metrics
            .position
            .with_label_values(&self.metrics.labels(name))
            .set(from.position);
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
