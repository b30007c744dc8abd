//! The shard map (ADR 42): which PostgreSQL database each of the [`GENE_COUNT`] partition
//! genes is read from and written to.
//!
//! Every stream belongs to one gene (an order to the gene its id carries, a cart to its
//! buyer's, every other aggregate to its id's hash), and every gene to one shard for reads and
//! one for writes: the same one, except while a move switches reads before writes. A map is
//! versioned; a new version is written whole next to the old ones ([`MapStore`]), and the newest
//! is in force. Shards are named here; configuration maps each name to a database URL, so
//! credentials never enter the database.
//!
//! [`ShardRouter`] holds one event store per configured shard and gives each stream the store
//! of its gene's shard under the map in force ([`FollowedMap`]); [`Stores`] is the command
//! side's way to the log through it (or to the one store, without shards), waiting a bounded
//! time when a gene's fence says the map moved on. [`Jobs`], [`Copier`] and [`compare`] are
//! the parts a move of genes between shards is made of (`orders reshard`).

mod follow;
mod map;
mod reshard;
mod router;
mod store;
mod stores;

pub use follow::{FollowedMap, POLL_INTERVAL};
pub use ids::GENE_COUNT;
pub use map::{Assignment, GeneRange, MapError, ShardMap, ShardName};
pub use reshard::{
    COPY_WINDOW_ROWS, Comparison, Copied, Copier, Job, JobError, Jobs, Step, compare,
};
pub use router::{ConnectError, Route, RouteError, ShardRouter};
pub use store::{MapStore, StoreError, VersionNote};
pub use stores::{MOVED_WAIT_MAX, Stores};

/// The map's tables, on the default database (the catalog).
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");
