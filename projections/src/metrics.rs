//! The runner's Prometheus metrics: how far each projection lags the log.

use prometheus::{GaugeVec, IntCounterVec, IntGaugeVec, Opts, Registry};

/// Most events counted when measuring a projection's lag; beyond it the gauge shows this.
pub const LAG_EVENTS_COUNTED_MAX: usize = 1_000;

/// Lag and progress of every projection, labelled by projection name.
#[derive(Debug, Clone)]
pub struct ProjectionMetrics {
    /// Events in the log not yet applied (capped at [`LAG_EVENTS_COUNTED_MAX`]).
    pub lag_events: IntGaugeVec,
    /// Age of the oldest event not yet applied, 0 when caught up.
    pub lag_seconds: GaugeVec,
    /// Events applied.
    pub applied: IntCounterVec,
    /// Batches that failed and were retried.
    pub failures: IntCounterVec,
}

impl ProjectionMetrics {
    /// The metrics, registered in `registry`.
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let metrics = Self::unregistered()?;
        registry.register(Box::new(metrics.lag_events.clone()))?;
        registry.register(Box::new(metrics.lag_seconds.clone()))?;
        registry.register(Box::new(metrics.applied.clone()))?;
        registry.register(Box::new(metrics.failures.clone()))?;
        Ok(metrics)
    }

    /// The metrics, not registered anywhere (for the command line and tests).
    pub fn unregistered() -> Result<Self, prometheus::Error> {
        Ok(Self {
            lag_events: IntGaugeVec::new(
                Opts::new(
                    "projection_lag_events",
                    "Events of the log a projection has not applied yet (capped)",
                ),
                &["projection"],
            )?,
            lag_seconds: GaugeVec::new(
                Opts::new(
                    "projection_lag_seconds",
                    "Age of the oldest event a projection has not applied yet",
                ),
                &["projection"],
            )?,
            applied: IntCounterVec::new(
                Opts::new("projection_events_applied_total", "Events read and applied"),
                &["projection"],
            )?,
            failures: IntCounterVec::new(
                Opts::new(
                    "projection_batch_failures_total",
                    "Batches that failed, were rolled back and retried",
                ),
                &["projection"],
            )?,
        })
    }
}
