//! The followers' Prometheus metrics: one set of families per kind of follower, labelled by
//! the follower's name and the shard whose log it reads.

use std::sync::Arc;

use prometheus::{GaugeVec, IntCounterVec, IntGaugeVec, Opts, Registry};

/// The `shard` label of the default database, and of every follower in a deployment without
/// shards (ADR 42's `default` shard).
pub const DEFAULT_SHARD: &str = "default";

/// Lag and progress of every follower of one kind (`projection`, `reaction`, `relay`),
/// labelled by name and shard: each follower runs once per shard (ADR 42), and the series of
/// one shard must not overwrite another's.
#[derive(Clone, Debug)]
pub struct FollowerMetrics {
    /// Events of the log not handled yet (capped at
    /// [`LAG_EVENTS_COUNTED_MAX`](super::LAG_EVENTS_COUNTED_MAX)).
    pub lag_events: IntGaugeVec,
    /// Age of the oldest event not handled yet, 0 when caught up.
    pub lag_seconds: GaugeVec,
    /// The log position handled up to (its checkpoint), as of the last lag measurement.
    pub position: IntGaugeVec,
    /// Events handled.
    pub handled: IntCounterVec,
    /// Batches or events that failed and were tried again.
    pub failures: IntCounterVec,
    /// Events parked as dead letters.
    pub dead_letters: IntCounterVec,
    /// The shard whose log the followers given these metrics read.
    shard: Arc<str>,
}

impl FollowerMetrics {
    /// The metrics of followers of `kind` (`projection` gives
    /// `projection_lag_events{projection,shard}` and so on), for the [`DEFAULT_SHARD`], not
    /// registered anywhere.
    pub fn new(kind: &str) -> Result<Self, prometheus::Error> {
        let labels = &[kind, "shard"];
        let opts = |name: &str, help: &str| Opts::new(format!("{kind}_{name}"), help.to_owned());
        Ok(Self {
            lag_events: IntGaugeVec::new(
                opts("lag_events", "Events of the log not handled yet (capped)"),
                labels,
            )?,
            lag_seconds: GaugeVec::new(
                opts("lag_seconds", "Age of the oldest event not handled yet"),
                labels,
            )?,
            position: IntGaugeVec::new(
                opts(
                    "position",
                    "The log position handled up to (its checkpoint)",
                ),
                labels,
            )?,
            handled: IntCounterVec::new(
                opts("events_applied_total", "Events read and handled"),
                labels,
            )?,
            failures: IntCounterVec::new(
                opts(
                    "failures_total",
                    "Batches or events that failed and were tried again",
                ),
                labels,
            )?,
            dead_letters: IntCounterVec::new(
                opts("dead_letters_total", "Events parked as dead letters"),
                labels,
            )?,
            shard: Arc::from(DEFAULT_SHARD),
        })
    }

    /// [`new`](Self::new), registered in `registry`.
    pub fn register(kind: &str, registry: &Registry) -> Result<Self, prometheus::Error> {
        let metrics = Self::new(kind)?;
        registry.register(Box::new(metrics.lag_events.clone()))?;
        registry.register(Box::new(metrics.lag_seconds.clone()))?;
        registry.register(Box::new(metrics.position.clone()))?;
        registry.register(Box::new(metrics.handled.clone()))?;
        registry.register(Box::new(metrics.failures.clone()))?;
        registry.register(Box::new(metrics.dead_letters.clone()))?;
        Ok(metrics)
    }

    /// The same families, for the followers of shard `shard`'s log: what they export is
    /// labelled `shard="<shard>"`.
    pub fn on_shard(&self, shard: &str) -> Self {
        Self {
            shard: Arc::from(shard),
            ..self.clone()
        }
    }

    /// The shard these metrics label their series with.
    pub fn shard(&self) -> &str {
        &self.shard
    }

    /// The label values of follower `name`'s series: its name and shard.
    pub fn labels<'a>(&'a self, name: &'a str) -> [&'a str; 2] {
        [name, &self.shard]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_shard_has_its_own_series_of_one_family() {
        let registry = Registry::new();
        let default = FollowerMetrics::register("projection", &registry).unwrap();
        let s2 = default.on_shard("s2");
        default
            .position
            .with_label_values(&default.labels("orders"))
            .set(7);
        s2.position.with_label_values(&s2.labels("orders")).set(3);

        let mut text = String::new();
        prometheus::TextEncoder::new()
            .encode_utf8(&registry.gather(), &mut text)
            .unwrap();
        assert!(
            text.contains("projection_position{projection=\"orders\",shard=\"default\"} 7"),
            "{text}"
        );
        assert!(
            text.contains("projection_position{projection=\"orders\",shard=\"s2\"} 3"),
            "{text}"
        );
    }
}
