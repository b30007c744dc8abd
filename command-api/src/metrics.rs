//! Prometheus metrics, served at `/metrics`: the requests, the followers of the log, the
//! payment deadlines, the database pool (its connections and waits), the process (memory, CPU, file descriptors, start
//! time, from `/proc` on Linux) and the build.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use event_store::EventStore;
use event_store::follower::FollowerMetrics;
use prometheus::{
    Encoder, Gauge, Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec,
    Opts, Registry, TextEncoder,
};

use crate::roles::{Role, Roles};

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
    /// The reactions' followers: lag, failures and dead letters, labelled by reaction and
    /// shard (each shard's followers take theirs with [`FollowerMetrics::on_shard`]).
    pub reactions: FollowerMetrics,
    /// Seconds the oldest running append to the log has run (the readers wait for it; 0 when
    /// none runs), measured on each scrape, on PostgreSQL.
    pub log_oldest_append: Gauge,
    /// Seconds the oldest transaction of the PostgreSQL cluster with a transaction id has run.
    pub postgres_oldest_writer: Gauge,
    /// 1 for each role the node plays.
    pub node_role: IntGaugeVec,
    /// Connections of the database pool by state (`idle`, `in_use`), measured on each scrape.
    pub db_pool_connections: IntGaugeVec,
    /// The most connections the database pool opens.
    pub db_pool_connections_max: IntGauge,
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
        let reactions = FollowerMetrics::register("reaction", &registry)?;
        let log_oldest_append = Gauge::new(
            "log_oldest_append_seconds",
            "Seconds the oldest running append to the log has run: every reader of the log \
             waits for it (PostgreSQL)",
        )?;
        let postgres_oldest_writer = Gauge::new(
            "postgres_oldest_writer_seconds",
            "Seconds the oldest transaction with a transaction id in the PostgreSQL cluster has \
             run",
        )?;
        let node_role = IntGaugeVec::new(
            Opts::new("node_role", "1 for each role this node plays"),
            &["role"],
        )?;
        let db_pool_connections = IntGaugeVec::new(
            Opts::new(
                "db_pool_connections",
                "Connections of the database pool, by state (idle, in_use)",
            ),
            &["state"],
        )?;
        let db_pool_connections_max = IntGauge::new(
            "db_pool_connections_max",
            "The most connections the database pool opens",
        )?;
        let build_info = IntGaugeVec::new(
            Opts::new("orders_build_info", "1, labelled with the build's version"),
            &["version"],
        )?;
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        registry.register(Box::new(build_info))?;
        registry.register(Box::new(db_pool_connections.clone()))?;
        registry.register(Box::new(db_pool_connections_max.clone()))?;
        crate::pool_waits::register(&registry)?;
        // process_resident_memory_bytes, process_cpu_seconds_total, process_open_fds,
        // process_start_time_seconds and more, read from /proc when scraped
        #[cfg(target_os = "linux")]
        registry.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;
        registry.register(Box::new(node_role.clone()))?;
        registry.register(Box::new(log_oldest_append.clone()))?;
        registry.register(Box::new(postgres_oldest_writer.clone()))?;
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
            reactions,
            log_oldest_append,
            postgres_oldest_writer,
            node_role,
            db_pool_connections,
            db_pool_connections_max,
        })
    }

    /// Sets the pool gauges from `store`'s pool as it is now.
    pub fn observe_pool(&self, store: &EventStore) {
        let (size, idle, max) = if let Some(pool) = store.postgres_pool() {
            (
                pool.size(),
                pool.num_idle(),
                pool.options().get_max_connections(),
            )
        } else if let Some(pool) = store.sqlite_pool() {
            (
                pool.size(),
                pool.num_idle(),
                pool.options().get_max_connections(),
            )
        } else {
            return;
        };
        let idle = u32::try_from(idle).unwrap_or(u32::MAX).min(size);
        let gauge = |state: &str, value: u32| {
            self.db_pool_connections
                .with_label_values(&[state])
                .set(i64::from(value));
        };
        gauge("idle", idle);
        gauge("in_use", size - idle);
        self.db_pool_connections_max.set(i64::from(max));
    }

    /// Shows `roles` as `node_role{role}`: 1 for each role played, 0 for the others.
    pub fn set_roles(&self, roles: &Roles) {
        for role in Role::ALL {
            self.node_role
                .with_label_values(&[role.name()])
                .set(i64::from(roles.has(role)));
        }
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

/// The route label of a request's path: the pattern of the route it matched, or `unmatched`.
///
/// actix finds a path's pattern by matching the path against the routes again
/// (`match_pattern`): a walk of the route table with a regular expression per route with
/// parameters, and a new `String`, on every request. A path that is its own pattern (a route
/// without parameters) is kept once found, so there are at most as many kept paths as such
/// routes; any other path is matched each time. One per HTTP worker (not shared).
#[derive(Debug, Default)]
pub(crate) struct RouteLabels {
    fixed: RefCell<HashMap<String, Rc<str>>>,
}

/// The label of requests that matched no route.
const UNMATCHED: &str = "unmatched";

impl RouteLabels {
    /// The label of `path`; `pattern` is actix's pattern of it (`match_pattern`), asked for
    /// only when `path` is not kept.
    pub(crate) fn of(&self, path: &str, pattern: impl FnOnce() -> Option<String>) -> Rc<str> {
        if let Some(label) = self.fixed.borrow().get(path) {
            return Rc::clone(label);
        }
        match pattern() {
            Some(pattern) if pattern == path => {
                let label: Rc<str> = Rc::from(pattern.as_str());
                self.fixed.borrow_mut().insert(pattern, Rc::clone(&label));
                label
            }
            Some(pattern) => Rc::from(pattern),
            None => Rc::from(UNMATCHED),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    /// A router with `/v1/orders` and `/v1/orders/{id}`; counts how often it is asked.
    fn router(asked: &Cell<u32>, path: &str) -> Option<String> {
        asked.set(asked.get() + 1);
        match path {
            "/v1/orders" => Some("/v1/orders".to_owned()),
            p if p.starts_with("/v1/orders/") => Some("/v1/orders/{id}".to_owned()),
            _ => None,
        }
    }

    #[test]
    fn a_route_without_parameters_is_matched_once() {
        let labels = RouteLabels::default();
        let asked = Cell::new(0);
        for _ in 0..3 {
            let label = labels.of("/v1/orders", || router(&asked, "/v1/orders"));
            assert_eq!(&*label, "/v1/orders");
        }
        assert_eq!(asked.get(), 1);
    }

    #[test]
    fn paths_with_parameters_and_unmatched_paths_are_matched_every_time_and_not_kept() {
        let labels = RouteLabels::default();
        let asked = Cell::new(0);
        for i in 0..3 {
            let path = format!("/v1/orders/{i}");
            assert_eq!(
                &*labels.of(&path, || router(&asked, &path)),
                "/v1/orders/{id}"
            );
            assert_eq!(&*labels.of("/nope", || router(&asked, "/nope")), UNMATCHED);
        }
        assert_eq!(asked.get(), 6);
        assert!(labels.fixed.borrow().is_empty());
    }
}
