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
    /// Latency of every successful request by route (`POST /v1/orders/{id}`), in microseconds.
    pub route_us: BTreeMap<String, Vec<u32>>,
}

impl Samples {
    /// Records a successful request to `route` (overall and by route).
    pub fn route_request(&mut self, route: String, took: Duration) {
        let us = u32::try_from(took.as_micros()).unwrap_or(u32::MAX);
        self.request_us.push(us);
        self.route_us.entry(route).or_default().push(us);
    }

    /// Adds another client's samples.
    pub fn merge(&mut self, other: Samples) {
        self.request_us.extend(other.request_us);
        for (route, us) in other.route_us {
            self.route_us.entry(route).or_default().extend(us);
        }
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
    /// Latency by route.
    #[serde(default)]
    pub routes: BTreeMap<String, RouteLatency>,
}

/// The latency of one route's successful requests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RouteLatency {
    /// Successful requests.
    pub requests: u64,
    /// Median in milliseconds.
    pub p50_ms: f64,
    /// 99th percentile in milliseconds.
    pub p99_ms: f64,
}

/// The nearest-rank percentile `p` of sorted microseconds, in milliseconds (0 for none).
fn percentile(sorted_us: &[u32], p: f64) -> f64 {
    if sorted_us.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted_us.len() as f64).ceil() as usize;
    let index = rank.clamp(1, sorted_us.len()) - 1;
    f64::from(sorted_us[index]) / 1_000.0
}

impl Report {
    /// Summarises merged samples over `measured`.
    pub fn new(scenario: &str, clients: usize, measured: Duration, mut samples: Samples) -> Self {
        samples.request_us.sort_unstable();
        let seconds = measured.as_secs_f64().max(f64::EPSILON);
        let routes = samples
            .route_us
            .into_iter()
            .map(|(route, mut us)| {
                us.sort_unstable();
                let latency = RouteLatency {
                    requests: us.len() as u64,
                    p50_ms: percentile(&us, 50.0),
                    p99_ms: percentile(&us, 99.0),
                };
                (route, latency)
            })
            .collect();
        let percentile = |p: f64| percentile(&samples.request_us, p);
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
            routes,
        }
    }
}

/// A request's route: its method and path with each id (a segment holding a digit, other
/// than the API version `v1`) as `{id}`.
pub fn route(method: &str, path: &str) -> String {
    let path = path.split('?').next().unwrap_or(path);
    let version = |s: &str| {
        s.strip_prefix('v')
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    };
    let segments: Vec<&str> = path
        .split('/')
        .map(|s| {
            if s.bytes().any(|b| b.is_ascii_digit()) && !version(s) {
                "{id}"
            } else {
                s
            }
        })
        .collect();
    format!("{method} {}", segments.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank_over_successful_requests() {
        let mut samples = Samples::default();
        for ms in 1..=100 {
            samples.route_request(route("GET", "/x"), Duration::from_millis(ms));
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

    #[test]
    fn latencies_are_also_kept_by_route() {
        let mut samples = Samples::default();
        for ms in 1..=10 {
            samples.route_request(route("POST", "/v1/orders/123"), Duration::from_millis(ms));
        }
        let mut other = Samples::default();
        other.route_request(
            route("GET", "/v1/orders/9?min_version=1"),
            Duration::from_millis(7),
        );
        samples.merge(other);
        let report = Report::new("x", 1, Duration::from_secs(1), samples);
        assert_eq!(report.requests_per_s, 11.0);
        let place = &report.routes["POST /v1/orders/{id}"];
        assert_eq!(
            (place.requests, place.p50_ms, place.p99_ms),
            (10, 5.0, 10.0)
        );
        assert_eq!(report.routes["GET /v1/orders/{id}"].requests, 1);
        assert_eq!(route("POST", "/v1/checkout"), "POST /v1/checkout");
    }
}
