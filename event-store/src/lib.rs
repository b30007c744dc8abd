//! The event log of the order platform.
//!
//! Every change is an event appended to one table: PostgreSQL in postgres-es's schema (its
//! `PostgresEventRepository` reads streams; appends are group-committed, see
//! `postgres/group_commit.rs`), or an embedded SQLite file through sqlite-es's
//! `SqliteEventRepository`. This crate adds what those repositories lack and exposes one API
//! over both:
//!
//! - [`EventStore::load`] and [`EventStore::append`]: a stream's state and version, and an append
//!   that succeeds only at the expected version;
//! - [`execute`]: the command side's one way in: decide on the stream's kept (or loaded) state,
//!   append at its version with the command's dedup key, decide again when a write loses a race;
//! - idempotency: events carry [`EventMetadata`] with a dedup key, a unique index refuses a
//!   second command with the same key in a stream, and [`AppendError::Duplicate`] tells that
//!   apart from [`AppendError::Conflict`];
//! - [`Subscription`]: every event of the log, in commit order, from a [`Checkpoint`], never
//!   skipping an event whose transaction commits after a higher-positioned one;
//! - leases ([`EventStore::acquire_lease`]): work that runs on one node at a time;
//! - [`follower`]: the one follower of the log (batches, backoff, lag, checkpoints, dead
//!   letters) that projections, reactions and deadlines run under;
//! - [`MIGRATOR`] and [`SQLITE_MIGRATOR`]: the log's tables (each crate owns its own; the
//!   binary runs them together, joined by [`migrations::assemble`]);
//! - [`gene_of_stream`]: the partition gene (0 to [`GENE_COUNT`] - 1) of every stream, stored
//!   with each event on PostgreSQL, and the per-gene fences that refuse appends to a gene that
//!   moved to another shard ([`StoreError::Moved`], [`EventStore::fence_gene`]);
//! - [`Db`] ([`EventStore::db`]): the one database handle, for every crate's tables in the
//!   store's database: one statement text on either backend, the dialect where they truly
//!   differ, and the routing seam where a key will find its shard.
//!
//! Modules: `store` (the API: loads and appends), `reads` (the log as read), `db` (the database handle, its queries and its routing),
//! `postgres` and `sqlite` (the backends' SQL), `subscription`, `execute` (a command against
//! one stream), `follower` and `dead_letters`, `slots` (per-stream locks, kept state and batched
//! writes behind `execute`, private to this crate), `checkpoints`, `copy` (a move's copies between shards),
//! `metadata`, `observe` (what the process appended, told at once), `activity` (the transactions that can hold readers back), `pages` (a rebuild's read), `recorded` (events as read back), `pool` (when a pooled connection is checked),
//! `transaction` (cancel-safe `BEGIN`), `error`.
#![warn(missing_docs)]

mod activity;
mod checkpoints;
mod copy;
mod db;
mod dead_letters;
mod error;
mod execute;
mod fences;
pub mod follower;
mod fresh;
mod gene;
mod leases;
mod metadata;
pub mod migrations;
mod observe;
mod pages;
pub mod pool;
mod postgres;
mod read_event;
mod reads;
mod recorded;
mod slots;
mod sqlite;
mod store;
mod subscription;
mod tail;
mod transaction;

pub use activity::TransactionAges;
pub use copy::{StoredEvent, StoredWindow, StreamDigest, StreamDigests};
pub use db::{Db, DbRow, DbTx, Dialect, Key, On, Pool, Query, Routes};
pub use dead_letters::DeadLetter;
pub use error::{AppendError, ErrorChain, StoreError, unavailable};
pub use execute::{ExecuteError, Executed, execute, execute_with};
pub use gene::{GENE_BITS, GENE_COUNT, gene_of_buyer, gene_of_order, gene_of_stream};
pub use leases::Lease;
pub use metadata::EventMetadata;
pub use migrations::{MIGRATOR, SQLITE_MIGRATOR};
pub use observe::AppendObserver;
pub use pages::StreamPages;
pub use postgres::{APPEND_STATEMENT_TIMEOUT_MS, LOG_WRITER_LOCK};
pub use recorded::{Checkpoint, Pending, RecordedEvent, StreamEvent};
pub use store::{Appended, EventStore, Loaded, POSTGRES_POOL_CONNECTIONS_DEFAULT};
pub use subscription::{SUBSCRIPTION_BATCH_SIZE_MAX, SUBSCRIPTION_LINGER_MS, Subscription};
pub use transaction::begin;
