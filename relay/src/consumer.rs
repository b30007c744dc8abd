//! Durable pull consumers of the event stream, with a dead-letter path.
//!
//! [`run_consumer`] creates (or updates) a durable consumer with explicit acks, fetches in
//! batches and hands each message's [`Envelope`] to an [`EnvelopeHandler`]. A success is
//! acknowledged; a failure is refused with a delay (redelivered later); a message that fails
//! on its last allowed delivery, or cannot be read as an envelope by then, is copied to the
//! dead-letter subject with why, and terminated there. Delivery is at least once: a handler
//! that succeeded may see the message again when its acknowledgement was lost (a crash, an
//! outage, a slow handler past the ack wait), so **effects must be idempotent**, deduplicated
//! by [`Envelope::event_id`].

use std::future::Future;
use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::consumer::{AckPolicy, PullConsumer, pull};
use async_nats::jetstream::context::Publish;
use async_nats::jetstream::{self, AckKind};
use event_store::ErrorChain;
use event_store::follower::HandlerError;
use futures::StreamExt;
use prometheus::{IntCounterVec, Opts, Registry};
use tokio_util::sync::CancellationToken;

use crate::{Envelope, RelayError, RelaySettings};

/// Deliveries of a message before it is dead-lettered, by default.
pub const MAX_DELIVER_DEFAULT: i64 = 5;
/// How long a delivered message waits for its acknowledgement before it is delivered again,
/// by default.
pub const ACK_WAIT_DEFAULT_MS: u64 = 30_000;
/// Wait before a failed message is delivered again, by default; doubles with each delivery.
pub const NAK_DELAY_DEFAULT_MS: u64 = 1_000;
/// Longest wait before a failed message is delivered again.
const NAK_DELAY_MAX_MS: u64 = 60_000;
/// Messages asked for per fetch, by default.
pub const CONSUMER_BATCH_SIZE_DEFAULT: usize = 100;
/// How long a fetch waits on the server for messages.
const FETCH_EXPIRES_MS: u64 = 2_000;
/// How long after its expiry a fetch that has gone quiet is given up: the server ends every
/// fetch by then, unless the request was lost with a connection (then the client's own timer
/// would take 5 s more).
const FETCH_GRACE_MS: u64 = 500;
/// First wait after a failure of the consumer itself (NATS unreachable); doubles up to the
/// maximum.
const RETRY_BACKOFF_MIN_MS: u64 = 100;
const RETRY_BACKOFF_MAX_MS: u64 = 5_000;
/// Longest error text put in a dead letter's header.
const ERROR_HEADER_CHARS_MAX: usize = 1_024;

/// The stream a dead letter came from.
pub const HEADER_DEAD_LETTER_STREAM: &str = "Orders-Dead-Letter-Stream";
/// The subject a dead letter was published on.
pub const HEADER_DEAD_LETTER_SUBJECT: &str = "Orders-Dead-Letter-Subject";
/// Its sequence in that stream.
pub const HEADER_DEAD_LETTER_SEQUENCE: &str = "Orders-Dead-Letter-Sequence";
/// The durable consumer that gave up on it.
pub const HEADER_DEAD_LETTER_CONSUMER: &str = "Orders-Dead-Letter-Consumer";
/// How many times it was delivered.
pub const HEADER_DEAD_LETTER_DELIVERIES: &str = "Orders-Dead-Letter-Deliveries";
/// The last failure's text (one line, cut at 1 KiB).
pub const HEADER_DEAD_LETTER_ERROR: &str = "Orders-Dead-Letter-Error";

/// A durable consumer of the event stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsumerSettings {
    /// The stream read.
    pub stream: String,
    /// The durable consumer's name: where it is in the stream survives restarts.
    pub durable: String,
    /// The subjects it reads (a pattern: `orders.Order.>`).
    pub filter_subject: String,
    /// Deliveries of a message before it is dead-lettered (at least 1; `-1`: no limit, never
    /// dead-lettered).
    pub max_deliver: i64,
    /// How long a delivered message waits for its acknowledgement before it is delivered
    /// again.
    pub ack_wait: Duration,
    /// Wait before a failed message is delivered again; doubles with each delivery.
    pub nak_delay: Duration,
    /// Messages asked for per fetch.
    pub batch_size: usize,
    /// The stream that keeps the dead letters ([`crate::ensure_dead_letter_stream`]).
    pub dead_letter_stream: String,
    /// The subject dead letters are published on.
    pub dead_letter_subject: String,
}

impl ConsumerSettings {
    /// The durable consumer `durable` of every event of the stream of `relay`, with the
    /// defaults ([`MAX_DELIVER_DEFAULT`], [`ACK_WAIT_DEFAULT_MS`], [`NAK_DELAY_DEFAULT_MS`])
    /// and the dead-letter stream and subject of `relay`.
    pub fn new(relay: &RelaySettings, durable: &str) -> Self {
        Self {
            stream: relay.stream.clone(),
            durable: durable.to_owned(),
            filter_subject: relay.all_subjects(),
            max_deliver: MAX_DELIVER_DEFAULT,
            ack_wait: Duration::from_millis(ACK_WAIT_DEFAULT_MS),
            nak_delay: Duration::from_millis(NAK_DELAY_DEFAULT_MS),
            batch_size: CONSUMER_BATCH_SIZE_DEFAULT,
            dead_letter_stream: relay.dead_letter_stream(),
            dead_letter_subject: relay.dead_letter_subject(durable),
        }
    }

    fn nak_delay(&self, delivered: i64) -> Duration {
        let doublings = u32::try_from(delivered.saturating_sub(1).clamp(0, 16)).unwrap_or(16);
        self.nak_delay
            .saturating_mul(1 << doublings)
            .min(Duration::from_millis(NAK_DELAY_MAX_MS))
    }
}

/// What a consumer does with each event it reads. Called at least once per event, so its
/// effects must be idempotent: deduplicate them by [`Envelope::event_id`].
pub trait EnvelopeHandler: Send + Sync + 'static {
    /// The handler's name: its metrics' label and its logs'.
    fn name(&self) -> &'static str;

    /// Handles one event; an error has it delivered again later, and dead-lettered after the
    /// consumer's last allowed delivery.
    fn handle(&self, envelope: &Envelope) -> impl Future<Output = Result<(), HandlerError>> + Send;
}

/// Counters of every consumer, labelled by handler name (`consumer`).
#[derive(Clone, Debug)]
pub struct ConsumerMetrics {
    /// `consumer_handled_total`: messages handled and acknowledged.
    pub handled: IntCounterVec,
    /// `consumer_failures_total`: deliveries that failed (and were refused, to be redelivered).
    pub failed: IntCounterVec,
    /// `consumer_dead_letters_total`: messages given up on and copied to the dead letters.
    pub dead_lettered: IntCounterVec,
}

impl ConsumerMetrics {
    /// The metrics, not registered anywhere.
    pub fn new() -> Result<Self, prometheus::Error> {
        let labels = &["consumer"];
        Ok(Self {
            handled: IntCounterVec::new(
                Opts::new(
                    "consumer_handled_total",
                    "Messages handled and acknowledged",
                ),
                labels,
            )?,
            failed: IntCounterVec::new(
                Opts::new(
                    "consumer_failures_total",
                    "Deliveries that failed and were refused for redelivery",
                ),
                labels,
            )?,
            dead_lettered: IntCounterVec::new(
                Opts::new(
                    "consumer_dead_letters_total",
                    "Messages given up on and copied to the dead letters",
                ),
                labels,
            )?,
        })
    }

    /// [`new`](Self::new), registered in `registry`.
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let metrics = Self::new()?;
        registry.register(Box::new(metrics.handled.clone()))?;
        registry.register(Box::new(metrics.failed.clone()))?;
        registry.register(Box::new(metrics.dead_lettered.clone()))?;
        Ok(metrics)
    }
}

/// Runs `handler` as the durable consumer of `settings` until `shutdown` is cancelled: a
/// message being handled is finished first, and the messages fetched but not handled are
/// delivered again after the ack wait. A failure of NATS (an outage) is retried with backoff;
/// this returns only on shutdown.
pub async fn run_consumer<H: EnvelopeHandler>(
    js: jetstream::Context,
    settings: ConsumerSettings,
    handler: H,
    metrics: ConsumerMetrics,
    shutdown: CancellationToken,
) {
    let runner = Runner {
        js,
        settings,
        handler,
        metrics,
    };
    let mut backoff = Duration::from_millis(RETRY_BACKOFF_MIN_MS);
    tracing::info!(
        consumer = runner.handler.name(),
        durable = %runner.settings.durable,
        stream = %runner.settings.stream,
        "consuming"
    );
    loop {
        match runner.consume(&shutdown, &mut backoff).await {
            Ok(()) => return,
            Err(err) => tracing::warn!(
                consumer = runner.handler.name(),
                error = %ErrorChain(&err),
                "consuming failed; starting again"
            ),
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(Duration::from_millis(RETRY_BACKOFF_MAX_MS));
    }
}

struct Runner<H> {
    js: jetstream::Context,
    settings: ConsumerSettings,
    handler: H,
    metrics: ConsumerMetrics,
}

impl<H: EnvelopeHandler> Runner<H> {
    /// Consumes until shutdown (`Ok`) or a failure of NATS.
    async fn consume(
        &self,
        shutdown: &CancellationToken,
        backoff: &mut Duration,
    ) -> Result<(), RelayError> {
        let consumer = self.consumer().await?;
        loop {
            let fetch = consumer
                .batch()
                .max_messages(self.settings.batch_size.max(1))
                .expires(Duration::from_millis(FETCH_EXPIRES_MS))
                .messages();
            let requested = tokio::time::Instant::now();
            let mut batch = tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                batch = fetch => batch.map_err(|err| RelayError::Receive(err.into()))?,
            };
            let quiet = requested + Duration::from_millis(FETCH_EXPIRES_MS + FETCH_GRACE_MS);
            loop {
                let next = tokio::select! {
                    biased;
                    () = shutdown.cancelled() => return Ok(()),
                    next = batch.next() => next,
                    () = tokio::time::sleep_until(quiet) => None,
                };
                let Some(message) = next else { break };
                let message = message.map_err(RelayError::Receive)?;
                self.process(message).await?;
                *backoff = Duration::from_millis(RETRY_BACKOFF_MIN_MS);
            }
        }
    }

    /// Creates the durable consumer, or updates it to the settings.
    async fn consumer(&self) -> Result<PullConsumer, RelayError> {
        let config = pull::Config {
            durable_name: Some(self.settings.durable.clone()),
            description: Some(format!("{} (orders relay consumer)", self.handler.name())),
            ack_policy: AckPolicy::Explicit,
            ack_wait: self.settings.ack_wait,
            max_deliver: self.settings.max_deliver,
            filter_subject: self.settings.filter_subject.clone(),
            ..pull::Config::default()
        };
        self.js
            .create_consumer_on_stream(config, &self.settings.stream)
            .await
            .map_err(|err| RelayError::consumer(&self.settings.stream, &self.settings.durable, err))
    }

    /// Handles one message: acknowledges it, refuses it for later, or dead-letters it.
    async fn process(&self, message: jetstream::Message) -> Result<(), RelayError> {
        let name = self.handler.name();
        let (delivered, sequence) = {
            let info = message.info().map_err(RelayError::Receive)?;
            (info.delivered, info.stream_sequence)
        };
        let outcome = match Envelope::from_json(&message.payload) {
            Ok(envelope) => self
                .handler
                .handle(&envelope)
                .await
                .map_err(|err| ErrorChain(&*err).to_string()),
            Err(err) => Err(format!("not an envelope: {err}")),
        };
        let error = match outcome {
            Ok(()) => {
                message.ack().await.map_err(RelayError::Receive)?;
                self.metrics.handled.with_label_values(&[name]).inc();
                return Ok(());
            }
            Err(error) => error,
        };
        let max_deliver = self.settings.max_deliver;
        if max_deliver > 0 && delivered >= max_deliver {
            self.dead_letter(&message, sequence, delivered, &error)
                .await?;
            message
                .ack_with(AckKind::Term)
                .await
                .map_err(RelayError::Receive)?;
            self.metrics.dead_lettered.with_label_values(&[name]).inc();
            tracing::error!(
                consumer = name,
                subject = %message.subject,
                sequence,
                delivered,
                error,
                "gave up on a message after its last delivery; copied to the dead letters"
            );
        } else {
            self.metrics.failed.with_label_values(&[name]).inc();
            tracing::warn!(consumer = name, subject = %message.subject, sequence, delivered, error, "handling a message failed; it will be delivered again");
            message
                .ack_with(AckKind::Nak(Some(self.settings.nak_delay(delivered))))
                .await
                .map_err(RelayError::Receive)?;
        }
        Ok(())
    }

    /// Copies `message` to the dead-letter subject with where it came from and why, and waits
    /// for JetStream to take it (deduplicated by consumer and sequence).
    async fn dead_letter(
        &self,
        message: &jetstream::Message,
        sequence: u64,
        delivered: i64,
        error: &str,
    ) -> Result<(), RelayError> {
        let mut headers = HeaderMap::new();
        if let Some(original) = &message.headers {
            for (name, values) in original.iter() {
                if AsRef::<str>::as_ref(name) == crate::HEADER_MSG_ID {
                    continue;
                }
                for value in values {
                    headers.append(name.clone(), value.clone());
                }
            }
        }
        headers.insert(HEADER_DEAD_LETTER_STREAM, self.settings.stream.as_str());
        headers.insert(HEADER_DEAD_LETTER_SUBJECT, message.subject.as_str());
        headers.insert(HEADER_DEAD_LETTER_SEQUENCE, sequence.to_string().as_str());
        headers.insert(HEADER_DEAD_LETTER_CONSUMER, self.settings.durable.as_str());
        headers.insert(
            HEADER_DEAD_LETTER_DELIVERIES,
            delivered.to_string().as_str(),
        );
        headers.insert(HEADER_DEAD_LETTER_ERROR, one_line(error).as_str());
        let publish = Publish::build()
            .payload(message.payload.clone())
            .headers(headers)
            .message_id(format!("{}/{}", self.settings.durable, sequence));
        self.js
            .send_publish(self.settings.dead_letter_subject.clone(), publish)
            .await
            .map_err(|err| RelayError::Publish(err.into()))?
            .await
            .map_err(|err| RelayError::Publish(err.into()))?;
        Ok(())
    }
}

/// `text` as a header value: one line, at most [`ERROR_HEADER_CHARS_MAX`] characters.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(ERROR_HEADER_CHARS_MAX)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_message_waits_longer_with_each_delivery() {
        let settings = ConsumerSettings::new(&RelaySettings::default(), "c");
        assert_eq!(settings.nak_delay(1), Duration::from_secs(1));
        assert_eq!(settings.nak_delay(2), Duration::from_secs(2));
        assert_eq!(settings.nak_delay(3), Duration::from_secs(4));
        assert_eq!(settings.nak_delay(100), Duration::from_secs(60));
        assert_eq!(settings.dead_letter_subject, "orders-dead-letters.c");
        assert_eq!(settings.dead_letter_stream, "ORDERS_DEAD_LETTERS");
        assert_eq!(settings.filter_subject, "orders.>");
    }

    #[test]
    fn an_error_becomes_one_header_line() {
        assert_eq!(one_line("a\r\nb"), "a  b");
        assert_eq!(one_line(&"x".repeat(5_000)).len(), ERROR_HEADER_CHARS_MAX);
    }
}
