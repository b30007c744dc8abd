//! Storage tests of id allocation: a fresh PostgreSQL database per test
//! (`#[sqlx::test(migrator = "ids::MIGRATOR")]`, run with `DATABASE_URL` set), and a
//! temporary SQLite file for the embedded backend.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod leases;
mod order_ids;
mod segments;
mod sqlite;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ids::{GeneratorOptions, ManualClock};

/// The real time now, as a manual clock's starting point (ids need a time after 2026).
pub fn wall_now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// A manual clock at the real time now, and generator options that read it.
pub fn manual() -> (Arc<ManualClock>, GeneratorOptions) {
    let clock = Arc::new(ManualClock::new(wall_now_ms()));
    let options = GeneratorOptions {
        clock: clock.clone(),
        ..GeneratorOptions::default()
    };
    (clock, options)
}

/// Polls `condition` until it holds (or panics after 10 s): for work done in the background.
pub async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    for _ in 0..10_000 {
        if condition() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    panic!("never happened: {what}");
}
