//! The projections' Prometheus metrics: the follower's (`event_store::follower`), labelled by
//! projection and shard: `projection_lag_events`, `projection_lag_seconds`,
//! `projection_position`, `projection_events_applied_total`, `projection_failures_total`,
//! `projection_dead_letters_total`.

use event_store::follower::FollowerMetrics;
use prometheus::Registry;

pub use event_store::follower::LAG_EVENTS_COUNTED_MAX;

/// Lag and progress of every projection, labelled by projection name and shard.
#[derive(Debug, Clone)]
pub struct ProjectionMetrics(pub(crate) FollowerMetrics);

impl ProjectionMetrics {
    /// The metrics, registered in `registry`.
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        FollowerMetrics::register("projection", registry).map(Self)
    }

    /// The metrics, not registered anywhere (for the command line and tests).
    pub fn unregistered() -> Result<Self, prometheus::Error> {
        FollowerMetrics::new("projection").map(Self)
    }

    /// The same metrics, for the runners of shard `shard`'s log (`shard="<shard>"`; a new
    /// one's is `default`).
    pub fn on_shard(&self, shard: &str) -> Self {
        Self(self.0.on_shard(shard))
    }
}

impl std::ops::Deref for ProjectionMetrics {
    type Target = FollowerMetrics;

    fn deref(&self) -> &FollowerMetrics {
        &self.0
    }
}
