//! Identity allocation for the order platform (DESIGN section 4).
//!
//! Two allocators, both on the event store's database (PostgreSQL or SQLite):
//!
//! - [`OrderIdGenerator`]: order ids. Snowflake-like, trend-increasing, unique across nodes
//!   without coordination per id, and carrying the buyer's partition gene in the lowest bits,
//!   so any lookup by order id knows its shard (`id & 1023`) without a directory. The
//!   difference of two ids tells time, not how many orders came between (why DESIGN rules
//!   out Leaf segments for order numbers).
//! - [`SegmentAllocator`]: Leaf-segment sequences (1, 2, 3, … per business tag) for internal
//!   numbers where guessability does not matter: payment trade numbers, refund numbers.
//!
//! # Order id layout
//!
//! A positive 63-bit integer (bit 63 is always 0, so it is an `i64` / PostgreSQL `bigint`),
//! rendered as a decimal string in JSON since JavaScript loses precision past 2^53:
//!
//! | bits  | field    | width | range                                  | why                                                                 |
//! |-------|----------|-------|----------------------------------------|---------------------------------------------------------------------|
//! | 63    | sign     | 1     | always 0                               | positive as a signed 64-bit integer                                 |
//! | 62–23 | time     | 40    | ms since 2026-01-01 UTC, 34.8 years (to 2060-11-03) | first, so ids grow with time (B-tree appends, sortable); ≥ 30 years |
//! | 22–16 | worker   | 7     | 128 worker ids                         | unique across nodes: ≥ 128 generators at once, each its own leased id |
//! | 15–10 | sequence | 6     | 64 ids per ms per worker (64,000/s)    | ids of one worker within one ms; when used up, the worker waits for the next ms |
//! | 9–0   | gene     | 10    | 1024 logical partitions                | the buyer's shard: [`gene_of_order`]`(id) == `[`gene_of_buyer`]`(buyer)` |
//!
//! The widths are forced: 63 bits less the 10-bit gene leave 53, and 30 years need 40 bits of
//! ms (2^39 ms is only 17 years), 128 workers 7 and 64 ids per ms 6. One worker's ids strictly
//! increase; across workers they increase with the ms (trend-increasing).
//!
//! # Worker ids, leases and clocks
//!
//! A generator leases the lowest free or expired worker id from `id_worker_leases` in one
//! race-free statement, renews the lease every [`LEASE_RENEW_INTERVAL_MS`] (TTL
//! [`LEASE_TTL_MS`]) in a background task, and releases it on
//! [`OrderIdGenerator::shutdown`]. Container churn does not exhaust worker ids: a dead
//! generator's lease expires.
//!
//! Uniqueness across owners rests on the lease's `last_ms`, a promise in the database: no id
//! of this worker id has a later time. Each renewal raises it to the clock plus one TTL, and
//! the generator never issues an id past the promise it has stored; a generator that takes the
//! worker id over (after expiry, or after a release, which records the last id's time) starts
//! after it. So ids never repeat across owners, whatever the two nodes' clocks say, even if the
//! old owner is still running. On top of that, a generator whose lease could have expired (no
//! renewal for TTL less [`LEASE_SAFETY_MARGIN_MS`], on the local monotonic clock) refuses to
//! issue until it renews, or leases a new worker id if it lost the old one.
//!
//! A wall clock that moves back by at most [`CLOCK_BACKWARD_WAIT_MAX_MS`] is waited out;
//! further back, the generator refuses with [`IdError::ClockMovedBack`] saying by how much.
//! The generator keeps the last ms and sequence it issued, so no clock move can make it issue
//! an id twice. Time comes from an injected [`Clock`]: [`SystemClock`] in production,
//! [`ManualClock`] in tests.
//!
//! # Modules
//!
//! `layout` (the bits; the gene functions and widths are the log's, `event_store::gene_of_*`,
//! re-exported here); `sequencer` (the pure core of the generator: next id, wait
//! or refusal for a clock reading); `lease` (the lease SQL) and `generator`; `segment` (the
//! Leaf allocator and its step rule); `clock`, `db` (the shared pool), `error`. The tables are
//! created by this crate's `migrations` (`0003_id_allocation.sql` on PostgreSQL,
//! `0002_id_allocation.sql` on SQLite), which the binary runs with every other crate's.
#![warn(missing_docs)]

mod clock;
mod db;
mod error;
mod generator;
mod layout;
mod lease;
pub mod migrations;
mod segment;
mod sequencer;

pub use clock::{Clock, ManualClock, SystemClock};
pub use error::IdError;
pub use event_store::{gene_of_buyer, gene_of_order, gene_of_stream};
pub use generator::{
    GeneratorOptions, LEASE_RENEW_INTERVAL_MS, LEASE_RENEW_RETRY_MS, LEASE_SAFETY_MARGIN_MS,
    LEASE_TTL_MS, OrderIdGenerator,
};
pub use layout::{
    EPOCH_MS, GENE_BITS, GENE_COUNT, OrderIdParts, SEQUENCE_BITS, SEQUENCE_COUNT, TIME_BITS,
    TIME_SPAN_MS, WORKER_BITS, WORKER_ID_COUNT,
};
pub use migrations::{MIGRATOR, SQLITE_MIGRATOR};
pub use segment::{
    SEGMENT_LONG_MS, SEGMENT_PREFETCH_AT_PERCENT, SEGMENT_PREFETCH_RETRY_MS, SEGMENT_SHORT_MS,
    SEGMENT_STEP_INITIAL, SEGMENT_STEP_MAX, SegmentAllocator, SegmentOptions, SegmentStatus,
};
pub use sequencer::CLOCK_BACKWARD_WAIT_MAX_MS;
