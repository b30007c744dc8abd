//! The relay: the event log published to NATS JetStream (an outbox read from the log), and
//! what reads it back (DESIGN section 8).
//!
//! - [`Relay`] and [`follower`]: follows the log in commit order under the event store's one
//!   follower and publishes each event to the stream `ORDERS` on
//!   `orders.<aggregate>.<partition>.<event>` as a versioned JSON [`Envelope`], with its
//!   event id as `Nats-Msg-Id`; acks are pipelined per batch and the checkpoint moves after
//!   them. At least once; duplicates are dropped within the stream's window; per-subject
//!   order is log order. Commands never wait for NATS.
//! - [`connect`], [`ensure_stream`], [`ensure_dead_letter_stream`] and [`RelaySettings`]:
//!   the connection (which outlives outages) and the streams.
//! - [`consumer`]: durable pull consumers with explicit acks, bounded deliveries and a
//!   dead-letter path; their effects must be idempotent.
//! - [`tail`]: the stream as it grows, for `orders tail`.
//! - `testing` (feature `testing`): a throwaway `nats-server` and a reader of a stream, for
//!   tests.
//!
//! Modules: `envelope` (the message), `nats` (connection and streams), `publisher` (the
//! relay), `consumer`, `tail`, `error`.
#![warn(missing_docs)]

pub mod consumer;
mod envelope;
mod error;
mod nats;
mod publisher;
pub mod tail;
#[cfg(feature = "testing")]
pub mod testing;

pub use consumer::{ConsumerMetrics, ConsumerSettings, EnvelopeHandler, run_consumer};
pub use envelope::{
    ENVELOPE_VERSION, Envelope, HEADER_ENVELOPE_VERSION, HEADER_EVENT_TYPE, HEADER_MSG_ID, event_id,
};
pub use error::RelayError;
pub use nats::{
    CONNECT_TIMEOUT_MS, RECONNECT_DELAY_MAX_MS, RelaySettings, Retention, connect,
    ensure_dead_letter_stream, ensure_stream,
};
pub use publisher::{RELAY_BATCH_SIZE, RELAY_NAME, Relay, RelayMetrics, follower};
pub use tail::{Tail, TailOptions, Tailed};
