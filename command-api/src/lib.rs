//! The command side of the order platform: HTTP routes, authentication, idempotency and error
//! mapping, and the `orders` command line that runs them.
//!
//! Modules: `config` (layered settings), `startup` (the application and its server),
//! `routes` (one module per resource), `auth` (bearer JWT), `problem` (RFC 7807 errors),
//! `metrics` (Prometheus), `telemetry` (tracing), `state` (what handlers share).
#![warn(missing_docs)]

pub mod auth;
pub mod config;
pub mod metrics;
pub mod problem;
pub mod routes;
pub mod startup;
pub mod state;
pub mod telemetry;
