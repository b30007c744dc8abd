//! What runs on the database now: the transactions that can hold the log's readers back.

use crate::store::Backend;
use crate::{EventStore, StoreError};

/// Ages of the oldest running transactions ([`EventStore::transaction_ages`]), in
/// seconds; `None` where there is none.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct TransactionAges {
    /// The oldest append to the log: the readers wait for it.
    pub oldest_append_secs: Option<f64>,
    /// The oldest transaction of the cluster with a transaction id (any database).
    pub oldest_writer_secs: Option<f64>,
}

impl EventStore {
    /// How long the oldest running transactions have been running, on PostgreSQL (`None` on
    /// SQLite, where one write runs at a time): the oldest append, which holds every reader of
    /// the log back while it runs, and the oldest transaction of the cluster that has written
    /// anything, which holds back nothing of the log but everything of vacuum.
    pub async fn transaction_ages(&self) -> Result<Option<TransactionAges>, StoreError> {
        match &*self.backend {
            Backend::Postgres(b) => Ok(Some(b.transaction_ages().await?)),
            Backend::Sqlite(_) => Ok(None),
        }
    }
}
