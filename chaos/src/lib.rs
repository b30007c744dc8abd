//! A fault-injection suite for the order platform: it starts `orders serve` processes on a
//! fresh database, drives them with clients that keep a ledger of every acknowledged order
//! and payment, does a fault to them again and again (SIGKILL, cut database connections, two
//! nodes on one database, a long transaction, SIGTERM), and then checks that nothing
//! acknowledged was lost or doubled, that every deadline fired once, and that
//! `orders reconcile` is clean. `scripts/chaos` runs it.
//!
//! Modules: `ledger` (what was acknowledged), `leases` (which node runs which work of the log), `load` (the clients, retrying through faults),
//! `node` (a server process), `database` (a database per experiment, the faults done to it,
//! and what it holds), `check` (the ledger against the database: pure), `experiment` (the
//! experiments and their figures).
#![warn(missing_docs)]

pub mod check;
pub mod database;
pub mod experiment;
pub mod leases;
pub mod ledger;
pub mod load;
pub mod node;
