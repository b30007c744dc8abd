//! Runs a reaction over the log: every event after the reaction's checkpoint, at least once,
//! in commit order. Reactions issue idempotent commands (dedup keys), so acting again after a
//! crash between acting and saving the checkpoint changes nothing. That also lets the
//! checkpoint be saved once per [`CHECKPOINT_SAVE_INTERVAL_MS`] rather than once per batch:
//! a crash costs at most that much handled again.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use event_store::{EventStore, RecordedEvent, Subscription};
use projections::metrics::LAG_EVENTS_COUNTED_MAX;
use prometheus::{IntGauge, IntGaugeVec};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Events read per batch.
const REACTION_BATCH_SIZE: usize = 200;
/// Longest the saved checkpoint stays behind what the reaction handled (a reaction that stops
/// saves at once).
const CHECKPOINT_SAVE_INTERVAL_MS: u64 = 200;
/// How often the lag gauge is measured, between batches.
const LAG_MEASURE_INTERVAL_MS: u64 = 1_000;
/// First wait after a failure; doubles up to the maximum.
const RETRY_BACKOFF_MIN_MS: u64 = 50;
const RETRY_BACKOFF_MAX_MS: u64 = 5_000;

/// Something done in response to events of the log.
pub trait Reaction: Send + Sync + 'static {
    /// The checkpoint's name: stable, unique per reaction.
    fn name(&self) -> &'static str;

    /// Whether the runner hands the reaction whole batches ([`Reaction::react_batch`]) rather
    /// than one event at a time: for a reaction that does a batch's work in a few statements.
    const BY_BATCH: bool = false;

    /// Acts on one event (most events need nothing). An error is retried with backoff, and
    /// the reaction never moves past an event it did not handle.
    fn react(
        &self,
        event: &RecordedEvent,
    ) -> impl Future<Output = Result<(), Box<dyn std::error::Error + Send + Sync>>> + Send;

    /// Acts on a batch of events, in commit order, when [`Reaction::BY_BATCH`]: all of it, or
    /// an error, upon which the whole batch is retried (so it must be idempotent as a whole).
    fn react_batch(
        &self,
        batch: &[Arc<RecordedEvent>],
    ) -> impl Future<Output = Result<(), Box<dyn std::error::Error + Send + Sync>>> + Send {
        async move {
            for event in batch {
                self.react(event).await?;
            }
            Ok(())
        }
    }
}

/// Runs `reaction` until `shutdown` is cancelled. Between batches, at most every
/// [`LAG_MEASURE_INTERVAL_MS`], sets `lag` (labelled with the reaction's name) to the events of
/// the log it has not read yet, capped at [`LAG_EVENTS_COUNTED_MAX`].
pub async fn run<R: Reaction>(
    store: EventStore,
    reaction: R,
    lag: IntGaugeVec,
    shutdown: CancellationToken,
) {
    let name = reaction.name();
    let lag = lag.with_label_values(&[name]);
    let mut backoff = Backoff::default();
    let Some(mut subscription) = retry(&shutdown, &mut backoff, name, || async {
        let from = store.load_checkpoint(name).await?;
        store.subscribe(from, REACTION_BATCH_SIZE).await
    })
    .await
    else {
        return;
    };
    tracing::info!(reaction = name, from = ?subscription.checkpoint(), "reaction started");
    let mut saving = Saving::default();
    let mut measure_at = measure_lag(&store, &subscription, &lag, name).await;
    loop {
        let batch = tokio::select! {
            biased;
            () = tokio::time::sleep_until(measure_at) => {
                measure_at = measure_lag(&store, &subscription, &lag, name).await;
                continue;
            }
            batch = next_batch(&shutdown, &mut backoff, name, &mut subscription) => batch,
            () = saving.due(), if saving.pending => {
                let saved =
                    save(&store, &shutdown, &mut backoff, name, &subscription, &mut saving).await;
                if saved.is_none() {
                    return;
                }
                continue;
            }
        };
        let Some(batch) = batch else {
            // stopping: what was handled is saved, so a restart does not handle it again
            if saving.pending {
                let at = subscription.checkpoint();
                if let Err(err) = store.save_checkpoint(name, at).await {
                    tracing::warn!(reaction = name, error = %err, "saving the checkpoint failed on shutdown");
                }
            }
            return;
        };
        if R::BY_BATCH {
            let handled = retry(&shutdown, &mut backoff, name, || {
                reaction.react_batch(&batch)
            })
            .await;
            if handled.is_none() {
                return;
            }
        } else {
            for event in &batch {
                let handled = retry(&shutdown, &mut backoff, name, || reaction.react(event)).await;
                if handled.is_none() {
                    return;
                }
            }
        }
        saving.pending = true;
        if saving.is_due()
            && save(
                &store,
                &shutdown,
                &mut backoff,
                name,
                &subscription,
                &mut saving,
            )
            .await
            .is_none()
        {
            return;
        }
    }
}

/// Sets `lag` to the events after the subscription's checkpoint (those read are handled when
/// this runs); answers when to measure next.
async fn measure_lag(
    store: &EventStore,
    subscription: &Subscription,
    lag: &IntGauge,
    name: &str,
) -> Instant {
    match store
        .pending(subscription.checkpoint(), LAG_EVENTS_COUNTED_MAX)
        .await
    {
        Ok(pending) => lag.set(i64::try_from(pending.events).unwrap_or(i64::MAX)),
        Err(err) => tracing::warn!(reaction = name, error = %err, "measuring the lag failed"),
    }
    Instant::now() + Duration::from_millis(LAG_MEASURE_INTERVAL_MS)
}

/// When the reaction's checkpoint is saved: after a batch when the last save is older than
/// [`CHECKPOINT_SAVE_INTERVAL_MS`], else when it is up (whether or not events keep coming),
/// and when the reaction stops.
#[derive(Default)]
struct Saving {
    /// When the checkpoint was last saved.
    last: Option<Instant>,
    /// Whether the reaction handled events after the saved checkpoint.
    pending: bool,
}

impl Saving {
    fn is_due(&self) -> bool {
        self.last
            .is_none_or(|last| last.elapsed() >= Duration::from_millis(CHECKPOINT_SAVE_INTERVAL_MS))
    }

    /// Waits until a save is due.
    async fn due(&self) {
        if let Some(last) = self.last {
            tokio::time::sleep_until(last + Duration::from_millis(CHECKPOINT_SAVE_INTERVAL_MS))
                .await;
        }
    }
}

/// Saves the subscription's checkpoint (retried until it succeeds); `None` on shutdown.
async fn save(
    store: &EventStore,
    shutdown: &CancellationToken,
    backoff: &mut Backoff,
    name: &'static str,
    subscription: &Subscription,
    saving: &mut Saving,
) -> Option<()> {
    let at = subscription.checkpoint();
    retry(shutdown, backoff, name, || store.save_checkpoint(name, at)).await?;
    *saving = Saving {
        last: Some(Instant::now()),
        pending: false,
    };
    Some(())
}

async fn next_batch(
    shutdown: &CancellationToken,
    backoff: &mut Backoff,
    name: &str,
    subscription: &mut Subscription,
) -> Option<Vec<Arc<RecordedEvent>>> {
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return None,
            batch = subscription.next_batch() => match batch {
                Ok(batch) => {
                    backoff.reset();
                    return Some(batch);
                }
                Err(err) => {
                    tracing::warn!(reaction = name, error = %err, "reading the log failed; retrying");
                    backoff.wait(shutdown).await?;
                }
            }
        }
    }
}

/// Repeats `attempt` until it succeeds (`Some`) or shutdown is requested (`None`).
async fn retry<T, E, F, Fut>(
    shutdown: &CancellationToken,
    backoff: &mut Backoff,
    name: &str,
    mut attempt: F,
) -> Option<T>
where
    E: std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    loop {
        if shutdown.is_cancelled() {
            return None;
        }
        match attempt().await {
            Ok(value) => {
                backoff.reset();
                return Some(value);
            }
            Err(err) => {
                tracing::error!(reaction = name, error = %err, "reaction step failed; retrying");
                backoff.wait(shutdown).await?;
            }
        }
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
