//! Runs a reaction over the log: every event after the reaction's checkpoint, at least once,
//! in commit order. Reactions issue idempotent commands (dedup keys), so acting again after a
//! crash between acting and saving the checkpoint changes nothing.

use std::future::Future;
use std::time::Duration;

use event_store::{EventStore, RecordedEvent, Subscription};
use tokio_util::sync::CancellationToken;

/// Events read per batch.
const REACTION_BATCH_SIZE: usize = 200;
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
        batch: &[RecordedEvent],
    ) -> impl Future<Output = Result<(), Box<dyn std::error::Error + Send + Sync>>> + Send {
        async move {
            for event in batch {
                self.react(event).await?;
            }
            Ok(())
        }
    }
}

/// Runs `reaction` until `shutdown` is cancelled.
pub async fn run<R: Reaction>(store: EventStore, reaction: R, shutdown: CancellationToken) {
    let name = reaction.name();
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
    while let Some(batch) = next_batch(&shutdown, &mut backoff, name, &mut subscription).await {
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
        let at = subscription.checkpoint();
        if retry(&shutdown, &mut backoff, name, || {
            store.save_checkpoint(name, at)
        })
        .await
        .is_none()
        {
            return;
        }
    }
}

async fn next_batch(
    shutdown: &CancellationToken,
    backoff: &mut Backoff,
    name: &str,
    subscription: &mut Subscription,
) -> Option<Vec<RecordedEvent>> {
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
