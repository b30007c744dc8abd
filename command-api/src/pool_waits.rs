//! The database pools' waits: how long each acquire of a connection took. sqlx keeps no count
//! of them, but reports every acquire from the store's pools as a `tracing` event
//! ([`event_store::pool::ACQUIRE_EVENT_TARGET`]); [`PoolWaitsLayer`] turns those events into
//! `db_pool_acquire_seconds` and `db_pool_waits_total`. An acquire that finds an idle
//! connection takes microseconds; one that waits for a connection to come back, or to be
//! opened, takes longer than [`WAIT_THRESHOLD_SECS`] and counts as a wait.

use std::fmt;
use std::sync::LazyLock;

use event_store::pool::{ACQUIRE_EVENT_TARGET, ACQUIRED_AFTER_FIELD};
use prometheus::{Histogram, HistogramOpts, IntCounter, Registry};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::filter::{Filtered, Targets};
use tracing_subscriber::layer::Context;

/// An acquire slower than this waited for a connection.
pub const WAIT_THRESHOLD_SECS: f64 = 0.001;

/// The process's acquire metrics: the pools are the process's, so every registry (tests start
/// several apps) shows the same figures.
static POOL_WAITS: LazyLock<Option<PoolWaits>> = LazyLock::new(|| PoolWaits::new().ok());

/// The acquire metrics.
#[derive(Clone)]
struct PoolWaits {
    acquire_seconds: Histogram,
    waits: IntCounter,
}

impl PoolWaits {
    fn new() -> Result<Self, prometheus::Error> {
        Ok(Self {
            acquire_seconds: Histogram::with_opts(
                HistogramOpts::new(
                    "db_pool_acquire_seconds",
                    "Time to get a connection from the database pool (an idle one takes \
                     microseconds; longer is a wait for one to come back or be opened)",
                )
                .buckets(vec![
                    0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0,
                ]),
            )?,
            waits: IntCounter::new(
                "db_pool_waits_total",
                "Acquires from the database pool that waited for a connection (over 1 ms)",
            )?,
        })
    }

    fn observe(&self, secs: f64) {
        self.acquire_seconds.observe(secs);
        if secs > WAIT_THRESHOLD_SECS {
            self.waits.inc();
        }
    }
}

/// Registers the acquire metrics in `registry`.
pub(crate) fn register(registry: &Registry) -> Result<(), prometheus::Error> {
    if let Some(waits) = &*POOL_WAITS {
        registry.register(Box::new(waits.acquire_seconds.clone()))?;
        registry.register(Box::new(waits.waits.clone()))?;
    }
    Ok(())
}

/// The layer feeding the acquire metrics from sqlx's acquire events, and only those.
pub fn layer<S: Subscriber>() -> Filtered<PoolWaitsLayer, Targets, S> {
    PoolWaitsLayer.with_filter(Targets::new().with_target(ACQUIRE_EVENT_TARGET, Level::TRACE))
}

/// Observes the seconds of each acquire event it is given.
#[derive(Debug, Clone, Copy)]
pub struct PoolWaitsLayer;

impl<S: Subscriber> Layer<S> for PoolWaitsLayer {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let mut acquired_after = AcquiredAfter(None);
        event.record(&mut acquired_after);
        if let (Some(secs), Some(waits)) = (acquired_after.0, &*POOL_WAITS) {
            waits.observe(secs);
        }
    }
}

/// The acquire's seconds, read from its event.
struct AcquiredAfter(Option<f64>);

impl Visit for AcquiredAfter {
    fn record_f64(&mut self, field: &Field, value: f64) {
        if field.name() == ACQUIRED_AFTER_FIELD {
            self.0 = Some(value);
        }
    }

    fn record_debug(&mut self, _: &Field, _: &dyn fmt::Debug) {}
}

#[cfg(test)]
mod tests {
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    fn figures() -> (u64, f64, u64) {
        let waits = POOL_WAITS.as_ref().unwrap();
        (
            waits.acquire_seconds.get_sample_count(),
            waits.acquire_seconds.get_sample_sum(),
            waits.waits.get(),
        )
    }

    /// Runs `f` on this thread with only the layer listening.
    fn listened<T>(f: impl FnOnce() -> T) -> T {
        let subscriber = tracing_subscriber::registry().with(layer());
        tracing::subscriber::with_default(subscriber, f)
    }

    #[test]
    fn an_acquire_over_the_threshold_counts_as_a_wait_and_others_only_in_the_histogram() {
        // other tests of this process acquire too: only growth is compared
        let before = figures();
        listened(|| {
            tracing::trace!(target: "sqlx::pool::acquire", aquired_after_secs = 0.25, "acquired connection");
            tracing::trace!(target: "sqlx::pool::acquire", aquired_after_secs = 0.00001, "acquired connection");
            tracing::trace!(target: "elsewhere", aquired_after_secs = 9.0, "not an acquire");
        });
        let after = figures();
        assert!(after.0 >= before.0 + 2, "{before:?} {after:?}");
        assert!(after.1 >= before.1 + 0.25 && after.1 < before.1 + 9.0);
        assert!(after.2 > before.2);
    }

    #[test]
    fn the_stores_pool_reports_each_acquire() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite:{}", dir.path().join("orders.db").display());
        let before = figures();
        listened(|| {
            runtime.block_on(async {
                let store = event_store::EventStore::connect(&url).await.unwrap();
                let pool = store.sqlite_pool().unwrap();
                for _ in 0..3 {
                    drop(pool.acquire().await.unwrap());
                }
            });
        });
        let after = figures();
        assert!(after.0 >= before.0 + 3, "{before:?} {after:?}");
    }

    #[test]
    fn the_metrics_are_in_every_registry() {
        let registry = Registry::new();
        register(&registry).unwrap();
        let names: Vec<_> = registry
            .gather()
            .iter()
            .map(|f| f.name().to_owned())
            .collect();
        assert!(
            names.contains(&"db_pool_acquire_seconds".to_owned()),
            "{names:?}"
        );
        assert!(
            names.contains(&"db_pool_waits_total".to_owned()),
            "{names:?}"
        );
    }
}
