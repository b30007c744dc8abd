//! The relay, its consumers and the tail against a real NATS JetStream (the machine's, or a
//! throwaway `nats-server` where a test stops it) and, for the relay, a fresh PostgreSQL
//! database per test (`#[sqlx::test]`, DATABASE_URL).
#![allow(clippy::unwrap_used, clippy::expect_used, unreachable_pub)]

mod connect;
mod consumer;
mod fixture;
mod outage;
mod restart;
mod tail;
mod throughput;
