//! What a run measured: completed operations, request latencies, errors by status.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Samples of one client (merged at the end of a run).
#[derive(Debug, Default, Clone)]
pub struct Samples {
    /// Latency of every successful request, in microseconds.
    pub request_us: Vec<u32>,
    /// Completed operations (an operation is a scenario step such as checkout+place+pay).
    pub operations: u64,
    /// Failed requests by HTTP status (0 for transport errors).
    pub errors: BTreeMap<u16, u64>,
    /// Requests answered with an expected refusal (for example 409 out of stock).
    pub refusals: BTreeMap<u16, u64>,
}

impl Samples {
    /// Records a successful request.
    pub fn request(&mut self, took: Duration) {
        self.request_us
            .push(u32::try_from(took.as_micros()).unwrap_or(u32::MAX));
    }

    /// Adds another client's samples.
    pub fn merge(&mut self, other: Samples) {
        self.request_us.extend(other.request_us);
        self.operations += other.operations;
        for (status, n) in other.errors {
            *self.errors.entry(status).or_default() += n;
        }
        for (status, n) in other.refusals {
            *self.refusals.entry(status).or_default() += n;
        }
    }
}

/// The summary of one scenario run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    /// Scenario name.
    pub scenario: String,
    /// Concurrent clients.
    pub clients: usize,
    /// Measured seconds (after warm-up).
    pub seconds: f64,
    /// Completed operations per second.
    pub operations_per_s: f64,
    /// Successful requests per second.
    pub requests_per_s: f64,
    /// Request latency percentiles in milliseconds.
    pub p50_ms: f64,
    /// 95th percentile.
    pub p95_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Completed operations.
    pub operations: u64,
    /// Failed requests by status.
    pub errors: BTreeMap<u16, u64>,
    /// Expected refusals by status (e.g. 409 when stock ran out).
    pub refusals: BTreeMap<u16, u64>,
    /// Scenario-specific figures (e.g. `sold`, `oversold`).
    pub extra: BTreeMap<String, f64>,
}

impl Report {
    /// Summarises merged samples over `measured`.
    pub fn new(scenario: &str, clients: usize, measured: Duration, mut samples: Samples) -> Self {
        samples.request_us.sort_unstable();
        let seconds = measured.as_secs_f64().max(f64::EPSILON);
        let percentile = |p: f64| -> f64 {
            if samples.request_us.is_empty() {
                return 0.0;
            }
            let rank = ((p / 100.0) * samples.request_us.len() as f64).ceil() as usize;
            let index = rank.clamp(1, samples.request_us.len()) - 1;
            f64::from(samples.request_us[index]) / 1_000.0
        };
        Self {
            scenario: scenario.to_owned(),
            clients,
            seconds,
            operations_per_s: samples.operations as f64 / seconds,
            requests_per_s: samples.request_us.len() as f64 / seconds,
            p50_ms: percentile(50.0),
            p95_ms: percentile(95.0),
            p99_ms: percentile(99.0),
            operations: samples.operations,
            errors: samples.errors,
            refusals: samples.refusals,
            extra: BTreeMap::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank_over_successful_requests() {
        let mut samples = Samples::default();
        for ms in 1..=100 {
            samples.request(Duration::from_millis(ms));
        }
        samples.operations = 50;
        *samples.errors.entry(500).or_default() += 3;
        let report = Report::new("x", 4, Duration::from_secs(10), samples);
        assert_eq!(report.p50_ms, 50.0);
        assert_eq!(report.p99_ms, 99.0);
        assert_eq!(report.operations_per_s, 5.0);
        assert_eq!(report.requests_per_s, 10.0);
        assert_eq!(report.errors[&500], 3);
    }
}
