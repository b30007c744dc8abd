//! The relay: the outbox from the log to JetStream, a handler under the event store's one
//! follower ([`event_store::follower`]).
//!
//! It publishes each batch whole (pipelined: every message sent, then every acknowledgement
//! awaited), and the follower saves the checkpoint only after the batch was acknowledged
//! ([`Checkpointing::AfterEffect`]): at least once. An event published again after a crash or
//! an outage carries the same `Nats-Msg-Id`, and JetStream drops it within the stream's
//! duplicate window.
//!
//! Every message also carries `Nats-Expected-Last-Sequence`: the stream's last sequence as the
//! relay expects it before that message. So the stream takes a batch only as an unbroken
//! prefix: when a message is lost (a connection dropped with it in flight), every later one is
//! refused instead of landing before it, and per-subject order stays log order. After any
//! failure the relay reads the stream's last sequence again. JetStream checks the message id
//! before the expected sequence, so a republished event is a duplicate, not a refusal. The
//! relay must be the stream's only publisher: another one's messages make its next batch fail
//! once, and it resumes. With shards (ADR 43), one relay publishes every shard's log: each
//! shard's follower publishes through a clone of it, and the clones take turns, whole batch by
//! whole batch, under the one expected sequence.

use std::future::IntoFuture;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, context::Publish};
use event_store::follower::HandlerError;
use event_store::follower::{Checkpointing, Follower, FollowerMetrics, FollowerOptions, Handler};
use event_store::{Checkpoint, EventStore, RecordedEvent};
use futures::FutureExt;
use prometheus::{Histogram, HistogramOpts, IntCounter, Registry};
use tokio::sync::Mutex;

use crate::{Envelope, RelayError, RelaySettings};

/// Events read and published per batch: the most a subscription reads at once. Pipelining a
/// whole batch turns a round trip per event into one per batch.
pub const RELAY_BATCH_SIZE: usize = event_store::SUBSCRIPTION_BATCH_SIZE_MAX;
/// The relay's name: its checkpoint's and its follower metrics' label.
pub const RELAY_NAME: &str = "relay";
/// Buckets of `relay_commit_to_ack_seconds`: fine between 5 and 200 ms, where a p99 of 100 ms
/// is read, and up to 10 s for an outage's backlog.
const COMMIT_TO_ACK_BUCKETS_SECONDS: &[f64] = &[
    0.001, 0.002, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.025, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08,
    0.09, 0.1, 0.125, 0.15, 0.2, 0.3, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The relay's own metrics (its lag is the follower's: `FollowerMetrics::register("relay", ..)`).
#[derive(Clone, Debug)]
pub struct RelayMetrics {
    /// `relay_commit_to_ack_seconds`: from an event's recorded time to its JetStream ack.
    pub commit_to_ack: Histogram,
    /// `relay_published_total`: events acknowledged by JetStream (duplicates included).
    pub published: IntCounter,
}

impl RelayMetrics {
    /// The metrics, not registered anywhere.
    pub fn new() -> Result<Self, prometheus::Error> {
        Ok(Self {
            commit_to_ack: Histogram::with_opts(
                HistogramOpts::new(
                    "relay_commit_to_ack_seconds",
                    "From an event's commit to its JetStream acknowledgement",
                )
                .buckets(COMMIT_TO_ACK_BUCKETS_SECONDS.to_vec()),
            )?,
            published: IntCounter::new(
                "relay_published_total",
                "Events acknowledged by JetStream (duplicates included)",
            )?,
        })
    }

    /// [`new`](Self::new), registered in `registry`.
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let metrics = Self::new()?;
        registry.register(Box::new(metrics.commit_to_ack.clone()))?;
        registry.register(Box::new(metrics.published.clone()))?;
        Ok(metrics)
    }
}

/// Publishes the log to the stream of its [`RelaySettings`] (which must exist:
/// [`crate::ensure_stream`]). Its clones are the same publisher: give one to each shard's
/// follower, so that the stream keeps one publisher.
#[derive(Clone)]
pub struct Relay {
    js: jetstream::Context,
    settings: RelaySettings,
    metrics: RelayMetrics,
    /// The stream's last sequence after this relay's last batch; `None` until read from the
    /// stream (at start and after any failure). Held for a whole batch: the clones publish
    /// one batch at a time.
    last_sequence: Arc<Mutex<Option<u64>>>,
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Relay {
    /// A relay publishing through `js` to the stream of `settings`.
    pub fn new(js: jetstream::Context, settings: RelaySettings, metrics: RelayMetrics) -> Self {
        Self {
            js,
            settings,
            metrics,
            last_sequence: Arc::new(Mutex::new(None)),
        }
    }

    /// Its settings.
    pub fn settings(&self) -> &RelaySettings {
        &self.settings
    }

    /// Publishes `batch` and waits for every acknowledgement.
    async fn publish(&self, batch: &[Arc<RecordedEvent>]) -> Result<(), RelayError> {
        let mut last_sequence = self.last_sequence.lock().await;
        let mut expected = match *last_sequence {
            Some(sequence) => sequence,
            None => self.stream_last_sequence().await?,
        };
        // unknown again until this batch is through
        *last_sequence = None;
        let mut acks = Vec::with_capacity(batch.len());
        let mut failure = None;
        // a copy made by a move of its gene (ADR 42) was published from the shard it came from
        for event in batch.iter().filter(|e| e.copied_from.is_none()) {
            let envelope = Envelope::of(event);
            let publish = Publish::build()
                .payload(envelope.to_json()?.into())
                .headers(envelope.headers())
                .expected_last_sequence(expected);
            match self
                .js
                .send_publish(envelope.subject(&self.settings.subject_prefix), publish)
                .await
            {
                Ok(ack) => acks.push((ack, event.recorded_at)),
                Err(err) => {
                    failure = Some(RelayError::Publish(err.into()));
                    break;
                }
            }
            expected += 1;
        }
        // awaited together: each ack's timeout starts when it is awaited, and one after the
        // other they would add up through an outage
        let acks = futures::future::join_all(acks.into_iter().map(|(ack, recorded_at)| {
            ack.into_future()
                .map(move |ack| (ack, recorded_at, chrono::Utc::now()))
        }))
        .await;
        let mut duplicates = false;
        let mut last = None;
        for (ack, recorded_at, acked_at) in acks {
            match ack {
                Ok(ack) => {
                    let age = (acked_at - recorded_at).to_std().unwrap_or(Duration::ZERO);
                    self.metrics.commit_to_ack.observe(age.as_secs_f64());
                    self.metrics.published.inc();
                    duplicates |= ack.duplicate;
                    last = Some(ack.sequence);
                }
                Err(err) => {
                    failure.get_or_insert(RelayError::Publish(err.into()));
                }
            }
        }
        if let Some(err) = failure {
            return Err(err);
        }
        // after a duplicate the stream's last sequence is not the batch's to know
        if !duplicates {
            *last_sequence = last.or(Some(expected));
        }
        Ok(())
    }

    async fn stream_last_sequence(&self) -> Result<u64, RelayError> {
        let stream = &self.settings.stream;
        let handle = self
            .js
            .get_stream(stream)
            .await
            .map_err(|err| RelayError::stream(stream, err))?;
        Ok(handle.cached_info().state.last_sequence)
    }
}

impl Handler for Relay {
    fn name(&self) -> &'static str {
        RELAY_NAME
    }

    fn checkpointing(&self) -> Checkpointing {
        Checkpointing::AfterEffect
    }

    async fn handle(
        &self,
        _from: Checkpoint,
        batch: &[Arc<RecordedEvent>],
    ) -> Result<(), HandlerError> {
        Ok(self.publish(batch).await?)
    }

    async fn retry(&self, event: &Arc<RecordedEvent>) -> Result<(), HandlerError> {
        Ok(self.publish(std::slice::from_ref(event)).await?)
    }
}

/// The follower running `relay` over `store`'s log, in batches of [`RELAY_BATCH_SIZE`],
/// exporting `metrics` (from `FollowerMetrics::register("relay", ..)`). It never parks an
/// event: skipping one would break the stream's promise of every event in log order, so
/// through a NATS outage it retries (with backoff) and then catches up.
pub fn follower(store: EventStore, relay: Relay, metrics: FollowerMetrics) -> Follower<Relay> {
    let options = FollowerOptions {
        batch_size: RELAY_BATCH_SIZE,
        attempts_before_parking: u32::MAX,
    };
    Follower::new(store, relay, options, metrics)
}
