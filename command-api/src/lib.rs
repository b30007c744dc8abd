//! The command side of the order platform: HTTP routes, authentication, idempotency and error
//! mapping, and the `orders` command line that runs them.
//!
//! Modules: `config` (layered settings; `config::load` reads them), `roles` (what a node
//! does), `startup` (the application and its server), `workers` (the work beside it, by role), `leased` (work that
//! runs on one node at a time), `routes` (one module per resource: parse, call a service, answer), `services`
//! (the use cases, callable without HTTP, and the clock they read), `reactions` (what follows
//! an event: cart clearing, stock movements),
//! `access` (each request's id, span, metrics and access-log line), `auth` (bearer JWT), `checkout_token`, `http` (If-Match, ETags, metadata), `limits` (what a
//! client may send), `admission` (admission control and risk rules in front of placement),
//! `known_ids` (the Bloom filter of known ids that answers made-up ids without a read), `problem`
//! (RFC 7807 errors) and `errors` (the table from domain errors to answers), `status` (the followers' report), `seller_places` (which shards keep each seller's rows), `views` (JSON
//! answers), `metrics` (Prometheus), `telemetry` (tracing), `state` (what handlers share), `payments`
//! (payment gateway and simulator, durable payment deadlines, their timer and sweeper),
//! `tail` (`orders tail`: the JetStream stream as JSON lines), `healthcheck` (`orders
//! healthcheck`: a server's readiness, for container probes).
#![warn(missing_docs)]

pub mod access;
pub mod admission;
pub mod auth;
pub mod campaign_ends;
pub mod checkout_token;
pub mod config;
pub mod errors;
pub mod healthcheck;
pub mod http;
pub mod known_ids;
pub mod leased;
pub mod limits;
pub mod metrics;
pub mod migrations;
pub mod payments;
pub mod pool_waits;
pub mod problem;
pub mod reactions;
pub mod reshard;
pub mod roles;
pub mod routes;
pub mod seller_places;
pub mod services;
pub mod shutdown;
pub mod startup;
pub mod state;
pub mod status;
pub mod tail;
pub mod telemetry;
pub mod views;
mod workers;

pub use migrations::{MIGRATOR, SQLITE_MIGRATOR};
