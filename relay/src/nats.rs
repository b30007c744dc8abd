//! The connection to NATS and the streams the relay publishes to.

use std::time::Duration;

use async_nats::jetstream::{self, stream};
use async_nats::{Client, ConnectOptions, Event};
use serde::{Deserialize, Serialize};

use crate::RelayError;

/// Longest wait for NATS when a process starts: past it, [`connect`] fails.
pub const CONNECT_TIMEOUT_MS: u64 = 3_000;
/// Longest wait between two attempts to reconnect, once connected.
pub const RECONNECT_DELAY_MAX_MS: u64 = 1_000;
/// First wait before a second attempt to reconnect; doubles up to the maximum.
const RECONNECT_DELAY_MIN_MS: u64 = 20;
/// How often the client pings the server, to notice a connection that died silently.
const PING_INTERVAL_MS: u64 = 5_000;

/// How long the stream keeps its messages.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Retention {
    /// Until the stream's limits (here its maximum age) drop them: any number of consumers
    /// read at their own pace, and a new one can start from the beginning.
    #[default]
    Limits,
    /// Until every consumer that exists has acknowledged them.
    Interest,
    /// Until one consumer has acknowledged them: one consumer per subject.
    WorkQueue,
}

impl From<Retention> for stream::RetentionPolicy {
    fn from(retention: Retention) -> Self {
        match retention {
            Retention::Limits => Self::Limits,
            Retention::Interest => Self::Interest,
            Retention::WorkQueue => Self::WorkQueue,
        }
    }
}

/// Where and how the event log is published.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelaySettings {
    /// The JetStream stream's name.
    pub stream: String,
    /// The first token of every subject: events go to `<prefix>.<aggregate>.<partition>.<event>`.
    pub subject_prefix: String,
    /// How long the stream keeps its messages.
    pub retention: Retention,
    /// Messages older than this are dropped; zero keeps them for ever.
    pub max_age: Duration,
    /// A second message with the same `Nats-Msg-Id` within this window is dropped: a relay
    /// that restarts within it publishes no event twice.
    pub duplicate_window: Duration,
    /// Copies of the stream in a NATS cluster.
    pub replicas: usize,
}

impl Default for RelaySettings {
    fn default() -> Self {
        Self {
            stream: "ORDERS".to_owned(),
            subject_prefix: "orders".to_owned(),
            retention: Retention::Limits,
            max_age: Duration::from_secs(7 * 24 * 3_600),
            duplicate_window: Duration::from_secs(120),
            replicas: 1,
        }
    }
}

impl RelaySettings {
    /// Every event's subject: `<prefix>.>`.
    pub fn all_subjects(&self) -> String {
        format!("{}.>", self.subject_prefix)
    }

    /// The dead-letter stream's name: `<stream>_DEAD_LETTERS`.
    pub fn dead_letter_stream(&self) -> String {
        format!("{}_DEAD_LETTERS", self.stream)
    }

    /// Where the consumer `durable` sends the messages it gave up on:
    /// `<prefix>-dead-letters.<durable>`.
    pub fn dead_letter_subject(&self, durable: &str) -> String {
        format!("{}-dead-letters.{durable}", self.subject_prefix)
    }
}

/// A client of the NATS server at `url` calling itself `client_name`. Fails within
/// [`CONNECT_TIMEOUT_MS`] when the server cannot be reached now ("cannot reach NATS at
/// `url`: why"); once connected, the client reconnects for ever in the background, at most
/// [`RECONNECT_DELAY_MAX_MS`] apart, so an outage never ends the process: publishes and
/// fetches fail meanwhile and their callers retry.
pub async fn connect(url: &str, client_name: &str) -> Result<Client, RelayError> {
    let name = client_name.to_owned();
    let options = ConnectOptions::new()
        .name(client_name)
        .connection_timeout(Duration::from_millis(CONNECT_TIMEOUT_MS))
        .ping_interval(Duration::from_millis(PING_INTERVAL_MS))
        .max_reconnects(None)
        .reconnect_delay_callback(reconnect_delay)
        .event_callback(move |event| {
            let name = name.clone();
            async move { log_event(&name, &event) }
        });
    let unreachable = |cause: String| RelayError::Unreachable {
        url: url.to_owned(),
        cause,
    };
    match tokio::time::timeout(
        Duration::from_millis(CONNECT_TIMEOUT_MS),
        options.connect(url),
    )
    .await
    {
        Ok(Ok(client)) => Ok(client),
        Ok(Err(err)) => Err(unreachable(err.to_string())),
        Err(_) => Err(unreachable(format!(
            "no answer within {CONNECT_TIMEOUT_MS} ms"
        ))),
    }
}

/// The wait before reconnect attempt `attempts` (from 1): none for the first, then doubling
/// up to [`RECONNECT_DELAY_MAX_MS`].
fn reconnect_delay(attempts: usize) -> Duration {
    if attempts <= 1 {
        return Duration::ZERO;
    }
    let exponent = u32::try_from(attempts - 2).unwrap_or(u32::MAX).min(16);
    Duration::from_millis(
        RECONNECT_DELAY_MIN_MS
            .saturating_mul(1 << exponent)
            .min(RECONNECT_DELAY_MAX_MS),
    )
}

fn log_event(client: &str, event: &Event) {
    match event {
        Event::Connected => tracing::info!(client, "connected to NATS"),
        Event::Disconnected => {
            tracing::warn!(client, "disconnected from NATS; reconnecting");
        }
        // the client closes when the process stops
        Event::Closed => tracing::info!(client, "NATS connection closed"),
        other => tracing::warn!(client, event = %other, "NATS client event"),
    }
}

/// Creates the stream of `settings`, or updates it to them: subjects `<prefix>.>`, file
/// storage, its retention, maximum age, duplicate window and replicas. (NATS refuses some
/// changes to an existing stream, such as its retention: the error says so.)
pub async fn ensure_stream(
    js: &jetstream::Context,
    settings: &RelaySettings,
) -> Result<stream::Info, RelayError> {
    let config = stream::Config {
        name: settings.stream.clone(),
        description: Some("Every event of the order platform's log, by the relay".to_owned()),
        subjects: vec![settings.all_subjects()],
        storage: stream::StorageType::File,
        retention: settings.retention.into(),
        max_age: settings.max_age,
        duplicate_window: settings.duplicate_window,
        num_replicas: settings.replicas.max(1),
        ..stream::Config::default()
    };
    js.create_or_update_stream(config)
        .await
        .map_err(|err| RelayError::stream(&settings.stream, err))
}

/// Creates or updates the dead-letter stream of `settings`
/// ([`RelaySettings::dead_letter_stream`], subjects `<prefix>-dead-letters.>`): file
/// storage, kept until an operator deletes them, deduplicated like the events.
pub async fn ensure_dead_letter_stream(
    js: &jetstream::Context,
    settings: &RelaySettings,
) -> Result<stream::Info, RelayError> {
    let name = settings.dead_letter_stream();
    let config = stream::Config {
        name: name.clone(),
        description: Some("Messages that consumers of the event stream gave up on".to_owned()),
        subjects: vec![format!("{}-dead-letters.>", settings.subject_prefix)],
        storage: stream::StorageType::File,
        retention: stream::RetentionPolicy::Limits,
        duplicate_window: settings.duplicate_window,
        num_replicas: settings.replicas.max(1),
        ..stream::Config::default()
    };
    js.create_or_update_stream(config)
        .await
        .map_err(|err| RelayError::stream(&name, err))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconnecting_starts_at_once_and_waits_at_most_the_maximum() {
        assert_eq!(reconnect_delay(1), Duration::ZERO);
        assert_eq!(reconnect_delay(2), Duration::from_millis(20));
        assert_eq!(reconnect_delay(3), Duration::from_millis(40));
        assert_eq!(
            reconnect_delay(usize::MAX),
            Duration::from_millis(RECONNECT_DELAY_MAX_MS)
        );
    }

    #[test]
    fn names_follow_the_settings() {
        let settings = RelaySettings::default();
        assert_eq!(settings.stream, "ORDERS");
        assert_eq!(settings.all_subjects(), "orders.>");
        assert_eq!(settings.dead_letter_stream(), "ORDERS_DEAD_LETTERS");
        assert_eq!(
            settings.dead_letter_subject("cart-clearing"),
            "orders-dead-letters.cart-clearing"
        );
        assert_eq!(settings.retention, Retention::Limits);
    }
}
