//! Reading the event stream as it grows: the library side of `orders tail`.
//!
//! With a durable name, a durable pull consumer that is acknowledged message by message once
//! the caller has shown it ([`Tailed::ack`]), so that the next run with that name resumes
//! after the last message shown. Without one, an ephemeral ordered consumer starting at new
//! messages (or at the first, [`TailOptions::from_start`]), which leaves nothing behind.

use std::time::Duration;

use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, PullConsumer, pull};
use async_nats::jetstream::{self, Message};
use futures::StreamExt;

use crate::RelayError;

/// How long a durable tail's fetch waits on the server for a message.
const TAIL_FETCH_EXPIRES_MS: u64 = 5_000;

/// What to tail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TailOptions {
    /// The stream.
    pub stream: String,
    /// The subjects shown, a pattern (`orders.>`, `orders.Order.*.OrderPlaced`).
    pub subject: String,
    /// A durable consumer's name: a second run with it resumes after the last message the
    /// first one acknowledged. `None`: an ephemeral consumer.
    pub durable: Option<String>,
    /// Start at the stream's first message rather than at new ones (for a durable consumer,
    /// only when it is created).
    pub from_start: bool,
}

/// One message read by a [`Tail`].
#[derive(Debug)]
pub struct Tailed {
    /// The subject it was published on.
    pub subject: String,
    /// Its body as JSON: an envelope, or whatever else was published on the subjects.
    pub body: serde_json::Value,
    /// The message, to acknowledge, when the consumer is durable.
    message: Option<Message>,
}

impl Tailed {
    /// Acknowledges the message, once shown, and waits for the server to confirm it: the
    /// next durable run starts after it. Nothing to do for an ephemeral tail.
    pub async fn ack(&self) -> Result<(), RelayError> {
        if let Some(message) = &self.message {
            message.double_ack().await.map_err(RelayError::Receive)?;
        }
        Ok(())
    }
}

/// A reader of the stream (see the module's docs).
pub struct Tail {
    source: Source,
}

/// Boxed: both kinds of consumer hold their whole configuration.
enum Source {
    Durable {
        consumer: Box<PullConsumer>,
        stream: String,
        durable: String,
    },
    Ephemeral(Box<pull::Ordered>),
}

impl std::fmt::Debug for Tail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match &self.source {
            Source::Durable { durable, .. } => durable.as_str(),
            Source::Ephemeral(_) => "ephemeral",
        };
        f.debug_struct("Tail").field("consumer", &kind).finish()
    }
}

impl Tail {
    /// Opens a tail of `options` (the stream must exist).
    pub async fn open(js: &jetstream::Context, options: &TailOptions) -> Result<Self, RelayError> {
        let stream = js
            .get_stream(&options.stream)
            .await
            .map_err(|err| RelayError::stream(&options.stream, err))?;
        let deliver_policy = if options.from_start {
            DeliverPolicy::All
        } else {
            DeliverPolicy::New
        };
        let source = match &options.durable {
            Some(durable) => {
                let config = pull::Config {
                    durable_name: Some(durable.clone()),
                    description: Some("orders tail".to_owned()),
                    ack_policy: AckPolicy::Explicit,
                    deliver_policy,
                    filter_subject: options.subject.clone(),
                    ..pull::Config::default()
                };
                // an existing consumer is taken as it is: where it stands is the point
                let consumer = stream
                    .get_or_create_consumer(durable, config)
                    .await
                    .map_err(|err| RelayError::consumer(&options.stream, durable, err))?;
                Source::Durable {
                    consumer: Box::new(consumer),
                    stream: options.stream.clone(),
                    durable: durable.clone(),
                }
            }
            None => {
                let config = pull::OrderedConfig {
                    filter_subject: options.subject.clone(),
                    deliver_policy,
                    ..pull::OrderedConfig::default()
                };
                let messages = stream
                    .create_consumer(config)
                    .await
                    .map_err(|err| RelayError::consumer(&options.stream, "ephemeral", err))?
                    .messages()
                    .await
                    .map_err(|err| RelayError::consumer(&options.stream, "ephemeral", err))?;
                Source::Ephemeral(Box::new(messages))
            }
        };
        Ok(Self { source })
    }

    /// The next message, waiting for one. A durable tail asks for one message at a time, so
    /// that a run that stops leaves nothing fetched and unshown for the next to wait for.
    pub async fn next(&mut self) -> Result<Tailed, RelayError> {
        match &mut self.source {
            Source::Durable {
                consumer,
                stream,
                durable,
            } => loop {
                let mut batch = consumer
                    .batch()
                    .max_messages(1)
                    .expires(Duration::from_millis(TAIL_FETCH_EXPIRES_MS))
                    .messages()
                    .await
                    .map_err(|err| RelayError::consumer(stream, durable, err))?;
                if let Some(message) = batch.next().await {
                    let message = message.map_err(RelayError::Receive)?;
                    return Ok(tailed(message, true));
                }
            },
            Source::Ephemeral(messages) => match messages.next().await {
                Some(Ok(message)) => Ok(tailed(message, false)),
                Some(Err(err)) => Err(RelayError::Receive(err.into())),
                None => Err(RelayError::Receive("the ordered consumer ended".into())),
            },
        }
    }
}

fn tailed(message: Message, durable: bool) -> Tailed {
    let body = serde_json::from_slice(&message.payload).unwrap_or_else(|_| {
        serde_json::Value::String(String::from_utf8_lossy(&message.payload).into_owned())
    });
    Tailed {
        subject: message.subject.to_string(),
        body,
        message: durable.then_some(message),
    }
}
