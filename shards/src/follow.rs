//! Every node follows the map: it reads the version in force at start and then polls the
//! newest version number (one index lookup) every interval, reading the whole map only when it
//! changed, so a new version is in force on every node within an interval or two.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::map::ShardMap;
use crate::store::{MapStore, StoreError};

/// How often a node asks for the newest version, by default.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// The map in force on this node, kept up to date by a background task.
#[derive(Debug)]
pub struct FollowedMap {
    current: watch::Receiver<Arc<ShardMap>>,
    task: JoinHandle<()>,
}

impl FollowedMap {
    /// Reads the map in force from `store` (failing the start when the database cannot say),
    /// then polls it every `interval` in the background. A failed poll is logged and tried
    /// again at the next interval; the last map read stays in force meanwhile (the fences on
    /// the databases, not this copy, refuse writes to a gene that moved).
    pub async fn start(store: MapStore, interval: Duration) -> Result<Self, StoreError> {
        let first = store.newest().await?;
        let (sender, current) = watch::channel(Arc::new(first));
        let task = tokio::spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                if sender.is_closed() {
                    return;
                }
                let known = sender.borrow().version();
                match poll(&store, known).await {
                    Ok(Some(newer)) => {
                        tracing::info!(
                            from = known,
                            to = newer.version(),
                            "shard map: a new version is in force"
                        );
                        sender.send_replace(Arc::new(newer));
                    }
                    Ok(None) => {}
                    Err(err) => tracing::warn!(error = %err, "shard map: polling failed"),
                }
            }
        });
        Ok(Self { current, task })
    }

    /// The map in force now.
    pub fn current(&self) -> Arc<ShardMap> {
        Arc::clone(&self.current.borrow())
    }

    /// A receiver that sees every new version (for work that must wait for one, such as a
    /// command fenced off a gene that is moving).
    pub fn subscribe(&self) -> watch::Receiver<Arc<ShardMap>> {
        self.current.clone()
    }
}

impl Drop for FollowedMap {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The newest map when its version is past `known`.
async fn poll(store: &MapStore, known: u64) -> Result<Option<ShardMap>, StoreError> {
    if store.newest_version().await? <= known {
        return Ok(None);
    }
    store.newest().await.map(Some)
}
