//! Why an id was not issued.

use crate::layout::EPOCH_MS;

/// A failure to allocate an id. Every refusal says why and what would end it.
#[derive(Debug, thiserror::Error)]
pub enum IdError {
    /// The database failed or could not be reached.
    #[error("id allocation database error")]
    Database(#[from] sqlx::Error),
    /// Options that cannot work, e.g. a lease renewed less often than it expires.
    #[error("invalid id allocation options: {0}")]
    InvalidOptions(&'static str),
    /// A stored row is not what this version of the crate expects.
    #[error("unexpected stored id allocation data: {0}")]
    Corrupt(String),
    /// Every worker id is leased by a live generator.
    #[error("all {count} worker ids are leased by live generators")]
    NoFreeWorkerId {
        /// How many worker ids there are.
        count: u16,
    },
    /// No renewal of the lease succeeded for so long that it may have expired in the database
    /// and been taken over; issuing now could duplicate the new owner's ids.
    #[error(
        "the lease on worker id {worker_id} was last renewed {since_renewal_ms} ms ago and may \
         have expired; refusing to issue until it is renewed"
    )]
    LeaseLapsed {
        /// The worker id whose lease lapsed.
        worker_id: u16,
        /// Time since the last successful renewal began, on the local monotonic clock.
        since_renewal_ms: u64,
    },
    /// Another generator took the worker id over; a new one is leased in the background.
    #[error(
        "worker id {worker_id} was taken over by another generator; refusing to issue until a \
         new worker id is leased"
    )]
    LeaseLost {
        /// The worker id that was lost.
        worker_id: u16,
    },
    /// The wall clock ran past the last time the lease promises ids for (the renewal that
    /// raises it is late, or the clock jumped forward).
    #[error(
        "the clock is {ahead_ms} ms past the times the lease on worker id {worker_id} covers; \
         refusing to issue until the lease is renewed"
    )]
    BeyondLease {
        /// The worker id.
        worker_id: u16,
        /// How far the clock is past the covered time.
        ahead_ms: u64,
    },
    /// The wall clock moved back by more than a generator waits out.
    #[error(
        "the clock moved back by {back_ms} ms, more than the {max_wait_ms} ms a generator waits \
         out; refusing to issue until it catches up"
    )]
    ClockMovedBack {
        /// How far the clock is behind the latest reading that issued an id.
        back_ms: u64,
        /// The most a generator waits for a clock that moved back.
        max_wait_ms: u64,
    },
    /// A worker id's earlier owner issued (or could have issued) ids with times ahead of this
    /// node's clock.
    #[error(
        "the earlier owner of worker id {worker_id} covered ids up to {behind_ms} ms ahead of \
         this clock; refusing to issue until the clock passes them (is this node's clock behind?)"
    )]
    ClockBehindWorker {
        /// The worker id.
        worker_id: u16,
        /// How far this clock is behind the earlier owner's last covered time.
        behind_ms: u64,
    },
    /// The wall clock is outside the span the id's time bits cover.
    #[error(
        "the clock reads {now_ms} ms since the Unix epoch, outside the order-id time range that \
         starts at {EPOCH_MS}"
    )]
    ClockOutOfRange {
        /// The clock reading.
        now_ms: u64,
    },
}
