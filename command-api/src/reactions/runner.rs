//! Runs a reaction over the log under the event store's one follower
//! ([`event_store::follower`]): every event after the reaction's checkpoint, at least once, in
//! commit order. Reactions issue idempotent commands (dedup keys), so acting again after a
//! crash between acting and saving the checkpoint changes nothing
//! ([`Checkpointing::AfterEffect`]); an event that keeps failing is parked as a dead letter
//! and the reaction goes on. A copy of an event made by a move of its gene to this shard
//! (ADR 42) is passed by: the shard it came from reacted to it.

use std::borrow::Cow;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use event_store::follower::{
    ATTEMPTS_BEFORE_PARKING_DEFAULT, Checkpointing, Follower, FollowerMetrics, FollowerOptions,
    Handler, HandlerError,
};
use event_store::{Checkpoint, EventStore, RecordedEvent};
use tokio_util::sync::CancellationToken;

/// Events read per batch, unless the reaction says otherwise ([`Reaction::BATCH_SIZE`]).
const REACTION_BATCH_SIZE: usize = 200;

/// Something done in response to events of the log.
pub trait Reaction: Send + Sync + 'static {
    /// The checkpoint's name: stable, unique per reaction.
    fn name(&self) -> &'static str;

    /// Whether the runner hands the reaction whole batches ([`Reaction::react_batch`]) rather
    /// than one event at a time: for a reaction that does a batch's work in a few statements.
    const BY_BATCH: bool = false;

    /// Events read per batch.
    const BATCH_SIZE: usize = REACTION_BATCH_SIZE;

    /// How old the newest event of a batch must be (by its recorded time) before the reaction
    /// handles it. Meanwhile the log grows, so the next batch holds what was committed during
    /// the wait: for a reaction whose work shrinks when related events share a batch, at the
    /// price of acting that much later.
    const LINGER: Duration = Duration::ZERO;

    /// Acts on one event (most events need nothing). An error is retried with backoff, and
    /// an event that keeps failing is parked as a dead letter.
    fn react(&self, event: &RecordedEvent)
    -> impl Future<Output = Result<(), HandlerError>> + Send;

    /// Acts on a batch of events, in commit order, when [`Reaction::BY_BATCH`]: all of it, or
    /// an error, upon which the batch is tried again one event at a time (so it must be
    /// idempotent as a whole).
    fn react_batch(
        &self,
        batch: &[Arc<RecordedEvent>],
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        async move {
            for event in batch {
                self.react(event).await?;
            }
            Ok(())
        }
    }
}

/// A reaction as a handler of the log.
struct ReactionHandler<R>(R);

impl<R: Reaction> Handler for ReactionHandler<R> {
    fn name(&self) -> &'static str {
        self.0.name()
    }

    fn checkpointing(&self) -> Checkpointing {
        Checkpointing::AfterEffect
    }

    async fn handle(
        &self,
        _from: Checkpoint,
        batch: &[Arc<RecordedEvent>],
    ) -> Result<(), HandlerError> {
        if let Some(last) = batch.last().filter(|_| !R::LINGER.is_zero()) {
            event_store::follower::linger(last, R::LINGER).await;
        }
        // a copy made by a move of its gene (ADR 42) was reacted to on the shard it came from
        let own: Cow<'_, [Arc<RecordedEvent>]> = if batch.iter().any(|e| e.copied_from.is_some()) {
            Cow::Owned(
                batch
                    .iter()
                    .filter(|e| e.copied_from.is_none())
                    .cloned()
                    .collect(),
            )
        } else {
            Cow::Borrowed(batch)
        };
        if own.is_empty() {
            return Ok(());
        }
        if R::BY_BATCH {
            self.0.react_batch(&own).await
        } else {
            for event in own.iter() {
                self.0.react(event).await?;
            }
            Ok(())
        }
    }

    async fn retry(&self, event: &Arc<RecordedEvent>) -> Result<(), HandlerError> {
        self.handle(event.checkpoint(), std::slice::from_ref(event))
            .await
    }
}

/// The follower running `reaction` over `store`'s log, exporting `metrics` (labelled with
/// the reaction's name), parking an event after `attempts_before_parking` failures.
pub fn follower<R: Reaction>(
    store: EventStore,
    reaction: R,
    metrics: FollowerMetrics,
    attempts_before_parking: u32,
) -> Follower<impl Handler> {
    let options = FollowerOptions {
        batch_size: R::BATCH_SIZE,
        attempts_before_parking,
    };
    Follower::new(store, ReactionHandler(reaction), options, metrics)
}

/// Runs `reaction` until `shutdown` is cancelled.
pub async fn run<R: Reaction>(
    store: EventStore,
    reaction: R,
    metrics: FollowerMetrics,
    shutdown: CancellationToken,
) {
    follower(store, reaction, metrics, ATTEMPTS_BEFORE_PARKING_DEFAULT)
        .run(shutdown)
        .await;
}
