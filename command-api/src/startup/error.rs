//! Why the application could not start: each failure says what failed and where.

use event_store::StoreError;
use ids::IdError;

use crate::config::InsecureSetting;

/// A failure to start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// The event store could not be opened or migrated.
    #[error("cannot open the event store at {url}")]
    Store {
        /// The (redacted) URL.
        url: String,
        /// Why.
        #[source]
        source: StoreError,
    },
    /// The listener could not be bound: the address is in use or not permitted.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address, as configured (`http_addr`).
        addr: std::net::SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The SQLite file's folder could not be created.
    #[error("cannot create the folder {} of the event store", path.display())]
    Folder {
        /// The folder.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Another part of the server could not be set up.
    #[error("cannot set up the server")]
    Io(#[from] std::io::Error),
    /// A command that only reads found the store without a migration it needs: it never
    /// migrates, as a read-only role could not (run `orders migrate`).
    #[error(
        "the event store at {url} lacks migration {version} ({description}): run `orders migrate`"
    )]
    Unmigrated {
        /// The (redacted) URL.
        url: String,
        /// The first missing migration's version.
        version: i64,
        /// Its description.
        description: String,
    },
    /// A command that only reads was pointed at a SQLite file that does not exist: it
    /// creates no store (run `orders migrate`, or `orders serve`).
    #[error(
        "there is no event store at {url}: {} does not exist (`orders migrate` creates it)",
        path.display()
    )]
    NoStore {
        /// The (redacted) URL.
        url: String,
        /// The missing file.
        path: std::path::PathBuf,
    },
    /// The metrics registry refused a metric.
    #[error("cannot register metrics")]
    Metrics(#[from] prometheus::Error),
    /// No order-id worker could be leased, or the id tables are unusable.
    #[error("cannot start the id allocators")]
    Ids(#[from] IdError),
    /// A setting is out of its range.
    #[error("the setting {name} must be {expected}, not {value}")]
    Setting {
        /// The setting.
        name: &'static str,
        /// What it must be.
        expected: String,
        /// What it is.
        value: String,
    },
    /// A development secret while listening beyond loopback.
    #[error(transparent)]
    Insecure(#[from] InsecureSetting),
    /// The shard map could not be read from the default database.
    #[error("cannot read the shard map from {url}")]
    ShardMap {
        /// The (redacted) URL of the default database.
        url: String,
        /// Why.
        #[source]
        source: shards::StoreError,
    },
    /// NATS (`nats_url`) could not be reached or its streams set up at start.
    #[error(transparent)]
    Nats(#[from] relay::RelayError),
}
