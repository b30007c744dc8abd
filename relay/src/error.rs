//! What can go wrong between the relay and NATS.

/// A failure of the relay, a consumer or the tail.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// NATS did not answer when the process started.
    #[error("cannot reach NATS at {url}: {cause}")]
    Unreachable {
        /// The URL tried.
        url: String,
        /// Why it failed.
        cause: String,
    },
    /// Creating, updating or reading a stream failed.
    #[error("JetStream stream {stream}: {cause}")]
    Stream {
        /// The stream's name.
        stream: String,
        /// Why (in the message, not as a source: the message says it all).
        cause: async_nats::Error,
    },
    /// Creating, updating or reading a consumer failed.
    #[error("JetStream consumer {consumer} of stream {stream}: {cause}")]
    Consumer {
        /// The stream's name.
        stream: String,
        /// The consumer's (durable) name, or `ephemeral`.
        consumer: String,
        /// Why (in the message, not as a source: the message says it all).
        cause: async_nats::Error,
    },
    /// A publish was not acknowledged.
    #[error("publishing to JetStream: {0}")]
    Publish(async_nats::Error),
    /// Fetching messages or acknowledging one failed.
    #[error("receiving from JetStream: {0}")]
    Receive(async_nats::Error),
    /// A message body that is not an envelope, or an envelope that cannot be written.
    #[error("an envelope could not be read or written")]
    Envelope(#[from] serde_json::Error),
}

impl RelayError {
    pub(crate) fn stream(stream: &str, source: impl Into<async_nats::Error>) -> Self {
        Self::Stream {
            stream: stream.to_owned(),
            cause: source.into(),
        }
    }

    pub(crate) fn consumer(
        stream: &str,
        consumer: &str,
        source: impl Into<async_nats::Error>,
    ) -> Self {
        Self::Consumer {
            stream: stream.to_owned(),
            consumer: consumer.to_owned(),
            cause: source.into(),
        }
    }
}
