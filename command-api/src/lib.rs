//! The command side of the order platform: HTTP routes, authentication, idempotency and error
//! mapping, and the `orders` command line that runs them.
//!
//! The HTTP API arrives with the command-side work; for now the `orders` binary can apply the
//! event-store migrations.
#![warn(missing_docs)]
