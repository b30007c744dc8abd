//! Read models of the order platform: order detail, buyer and seller order lists and stock
//! per SKU, each a projection of the event log with its checkpoint written in the same
//! transaction as its rows; the cold archive of settled orders; and the queries that the
//! server's query routes answer from them. No HTTP: the routes are the command-api crate's.
//!
//! | module | owns |
//! | --- | --- |
//! | [`projection`] | the projections ([`Projection`]), what each event changes, the SQL of their tables (`src/sql/`) |
//! | [`document`] | [`OrderDocument`]: an order as the views store it, and its content hash |
//! | [`read_models`] | [`ReadModels`]: applying batches and reading rows, on PostgreSQL or SQLite through the store's `event_store::Db` |
//! | `backend`, `apply`, `writes` | the queries and their row types; a batch folded and written with its checkpoint; the writes whose SQL differs by dialect, and a replay's (ADR 33) |
//! | [`runner`] | [`Runner`]: follows the log, retries with backoff, exports lag |
//! | [`sellers`] | with shards, the seller view on the seller's shard and its `sellers` follower (ADR 45) |
//! | [`metrics`] | the runner's Prometheus metrics |
//! | [`archive`] | [`Archiver`]: `orders archive` and the server's off-peak archiver, moving settled old orders to the archive in batches |
//! | [`reconcile`] | `orders reconcile`: the views against a replay of the log, and the invariants |
//! | [`replay`] | `orders replay`: rebuild into shadow tables, swap in atomically |
//! | [`audit`] | `orders audit`: an order's events with their metadata, its state at a time |
//!
//! The tables are created by this crate's [`migrations`] (`0010_read_models.sql` to
//! `0013_one_row_per_order.sql`, and `0048_seller_orders.sql` and `0049_seller_forgets.sql` on
//! PostgreSQL), which the binary runs with every other crate's.
#![warn(missing_docs)]

mod apply;
pub mod archive;
pub mod audit;
mod backend;
pub mod document;
mod error;
pub mod metrics;
pub mod migrations;
pub mod projection;
pub mod read_models;
mod rebuild;
pub mod reconcile;
pub mod replay;
mod rows;
pub mod runner;
pub mod sellers;
mod stock_change;
mod writes;

pub use archive::{ArchiveSchedule, ArchiveWindow, Archiver};
pub use backend::{OrderCopy, StockRow, StoredOrder};
pub use document::OrderDocument;
pub use error::ProjectionError;
pub use metrics::ProjectionMetrics;
pub use migrations::{MIGRATOR, SQLITE_MIGRATOR};
pub use projection::Projection;
pub use read_models::{Cursor, Owner, ReadModels, Shelf};
pub use runner::{PROJECTION_BATCH_SIZE_MAX, Runner};

pub(crate) use event_store::ErrorChain;
