//! A load generator for the order platform's benchmarks: N concurrent HTTP clients for T
//! seconds against a running `orders serve`, after a warm-up, with its own tokens.
//!
//! Modules: `client` (typed calls to the API), `scenario` (place-pay, hot-sku, read-mix),
//! `flash` (the flash sale, against the platform and its peers in `bench/`),
//! `stats` (latency percentiles and error counts; a failed request never counts as done),
//! `naive` (hot-sku's baseline: cqrs-es used naively on one hot aggregate, in the same run),
//! `rng` (a small deterministic generator, so runs are repeatable), `nats` (the NATS baseline:
//! JetStream publishes acknowledged per second, pipelined and one at a time), `metrics` (a
//! server's Prometheus text: values and histogram quantiles), `relay` (the relay's figures from
//! its node's metrics: commit-to-ack p99, drain rate), `summary` (the benchmark table and
//! `summary.json`).
#![warn(missing_docs)]

pub mod client;
pub mod flash;
pub mod metrics;
pub mod naive;
pub mod nats;
pub mod relay;
pub mod rng;
pub mod scenario;
pub mod stats;
pub mod summary;
