//! Prometheus metrics, served at `/metrics`.

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

/// The process's metrics.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    /// Requests by method, route pattern and status.
    pub http_requests: IntCounterVec,
    /// Request latency by method and route pattern.
    pub http_latency: HistogramVec,
    /// Fired payment deadlines: fired time minus due time.
    pub payment_deadline_lateness: Histogram,
    /// Payment deadlines fired, by outcome.
    pub payment_deadlines_fired: IntCounterVec,
    /// Events of the log a reaction has not read yet (capped), measured between its batches.
    pub reaction_lag_events: IntGaugeVec,
}

impl Metrics {
    /// Registers every metric in a fresh registry.
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let http_requests = IntCounterVec::new(
            Opts::new("http_requests_total", "HTTP requests answered"),
            &["method", "route", "status"],
        )?;
        let http_latency = HistogramVec::new(
            HistogramOpts::new("http_request_duration_seconds", "HTTP request latency").buckets(
                vec![
                    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                ],
            ),
            &["method", "route"],
        )?;
        let payment_deadline_lateness = Histogram::with_opts(
            HistogramOpts::new(
                "payment_deadline_lateness_seconds",
                "Fired payment deadlines: fired time minus due time",
            )
            .buckets(vec![
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
            ]),
        )?;
        let payment_deadlines_fired = IntCounterVec::new(
            Opts::new("payment_deadlines_fired_total", "Payment deadlines fired"),
            &["outcome"],
        )?;
        let reaction_lag_events = IntGaugeVec::new(
            Opts::new(
                "reaction_lag_events",
                "Events of the log a reaction has not read yet (capped at 1000)",
            ),
            &["reaction"],
        )?;
        registry.register(Box::new(reaction_lag_events.clone()))?;
        registry.register(Box::new(payment_deadline_lateness.clone()))?;
        registry.register(Box::new(payment_deadlines_fired.clone()))?;
        registry.register(Box::new(http_requests.clone()))?;
        registry.register(Box::new(http_latency.clone()))?;
        Ok(Self {
            registry,
            http_requests,
            http_latency,
            payment_deadline_lateness,
            payment_deadlines_fired,
            reaction_lag_events,
        })
    }

    /// The registry, for metrics other crates define (the projection runners' lag).
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The text exposition of every metric.
    pub fn render(&self) -> Result<String, prometheus::Error> {
        let mut buffer = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut buffer)?;
        String::from_utf8(buffer).map_err(|e| prometheus::Error::Msg(e.to_string()))
    }
}
