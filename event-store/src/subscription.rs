//! Ordered subscriptions: every event of the log after a checkpoint, in commit order, waking
//! on new commits.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::store::Backend;
use crate::{Checkpoint, EventStore, RecordedEvent, StoreError};

/// The largest batch a subscription reads at once.
pub const SUBSCRIPTION_BATCH_SIZE_MAX: usize = 1_000;
/// First wait after an empty read; doubles while reads stay empty.
const POLL_INTERVAL_MIN_MS: u64 = 5;
/// Longest wait between reads when no wake-up arrives: the fallback for a lost notification,
/// for writers in other processes (SQLite), and for a transaction that was holding events back.
const POLL_INTERVAL_MAX_MS: u64 = 500;
/// Shortest time between two reads that return less than a full batch. Under load every commit
/// wakes every subscription; reading at once would read one event per query, so a subscription
/// that is keeping up lets events gather for this long and reads them in one batch (like a
/// producer's linger): fewer, fuller reads, and consumers that write once per batch.
pub const SUBSCRIPTION_LINGER_MS: u64 = 10;

/// Reads the log in commit order from a checkpoint.
///
/// [`Subscription::next_batch`] returns the next events (shared: every subscription of the
/// process that reads them gets the same ones, none a copy) and moves the subscription's
/// checkpoint past them. A consumer that must apply every event exactly once stores
/// [`RecordedEvent::checkpoint`] of the last event it applied in the same transaction as its
/// effects, and after a failure subscribes again from that stored checkpoint.
pub struct Subscription {
    store: EventStore,
    checkpoint: Checkpoint,
    batch_size: usize,
    /// Changes after each commit (PostgreSQL: the process's LISTEN connection; SQLite: this
    /// process's appends): a hint, never trusted alone.
    commits: watch::Receiver<u64>,
    /// When the last read that returned less than a full batch started.
    last_partial_read: Option<tokio::time::Instant>,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("checkpoint", &self.checkpoint)
            .field("batch_size", &self.batch_size)
            .finish()
    }
}

impl Subscription {
    pub(crate) fn new(store: EventStore, from: Checkpoint, batch_size: usize) -> Self {
        let commits = match &*store.backend {
            Backend::Postgres(b) => b.watch_commits(),
            Backend::Sqlite(b) => b.watch_appends(),
        };
        Self {
            store,
            checkpoint: from,
            batch_size: batch_size.clamp(1, SUBSCRIPTION_BATCH_SIZE_MAX),
            commits,
            last_partial_read: None,
        }
    }

    /// The checkpoint after the last event returned.
    pub fn checkpoint(&self) -> Checkpoint {
        self.checkpoint
    }

    /// The next events in commit order, waiting until there is at least one. Reads that return
    /// less than a full batch are at least [`SUBSCRIPTION_LINGER_MS`] apart.
    pub async fn next_batch(&mut self) -> Result<Vec<Arc<RecordedEvent>>, StoreError> {
        let mut idle = Duration::from_millis(POLL_INTERVAL_MIN_MS);
        loop {
            if let Some(last) = self.last_partial_read {
                tokio::time::sleep_until(last + Duration::from_millis(SUBSCRIPTION_LINGER_MS))
                    .await;
            }
            let started = tokio::time::Instant::now();
            let batch = self.try_next_batch().await?;
            let full = batch.as_ref().is_some_and(|b| b.len() >= self.batch_size);
            self.last_partial_read = (!full).then_some(started);
            if let Some(batch) = batch {
                return Ok(batch);
            }
            self.wait(idle).await;
            idle = (idle * 2).min(Duration::from_millis(POLL_INTERVAL_MAX_MS));
        }
    }

    /// The next events in commit order, or `None` without waiting when there are none yet.
    pub async fn try_next_batch(&mut self) -> Result<Option<Vec<Arc<RecordedEvent>>>, StoreError> {
        // mark the current count seen before reading, so a commit during the read wakes us
        self.commits.borrow_and_update();
        let batch = self
            .store
            .read_after_shared(self.checkpoint, self.batch_size)
            .await?;
        Ok(batch.last().map(|last| last.checkpoint()).map(|last| {
            self.checkpoint = last;
            batch
        }))
    }

    async fn wait(&mut self, at_most: Duration) {
        tokio::select! {
            _ = self.commits.changed() => {}
            () = tokio::time::sleep(at_most) => {}
        }
    }
}
