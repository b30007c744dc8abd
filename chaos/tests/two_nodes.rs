//! Two nodes with every role on one PostgreSQL database, under load, one of them killed again
//! and again: each follower of the log (projection, reaction, timer, archiver) is held by one
//! node at a time, a killed node's work is taken over within seconds, and nothing
//! acknowledged is lost or doubled (the fault-injection suite's checks, and a clean
//! `orders reconcile`).
#![allow(clippy::unwrap_used, clippy::expect_used, unreachable_pub)]

use std::path::PathBuf;
use std::time::Duration;

use chaos::experiment::{self, EXPERIMENTS, Intensity, Setup};

/// The `orders` binary beside this test's own executable (`target/debug/deps/…`): the
/// workspace's test run builds it.
fn orders_bin() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let bin = exe
        .parent()
        .and_then(|deps| deps.parent())
        .map(|dir| dir.join("orders"))
        .unwrap();
    assert!(
        bin.exists(),
        "the orders binary is not built at {}: scripts/test builds it with the workspace, or \
         run cargo build -p command-api --bin orders first",
        bin.display()
    );
    bin
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_run_each_follower_once_and_hand_it_over_when_killed() {
    let work_dir = tempfile::tempdir().unwrap();
    let setup = Setup {
        bin: orders_bin(),
        admin_url: std::env::var("DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned()),
        work_dir: work_dir.path().to_owned(),
    };
    let two_nodes = EXPERIMENTS
        .iter()
        .find(|e| e.name == "two-nodes")
        .copied()
        .unwrap();
    let intensity = Intensity {
        faults: 2,
        interval: Duration::from_secs(3),
        clients: 4,
        ..Intensity::SHORT
    };
    let outcome = experiment::run(two_nodes, intensity, &setup).await.unwrap();
    assert!(
        outcome.passed(),
        "{outcome}\n{}\nviolations: {:#?}\nreconcile: {:?}",
        outcome.findings.describe(10),
        outcome.violations,
        outcome.reconcile
    );
    assert!(outcome.orders > 0, "{outcome}");
    let handover = outcome.handover_max.expect("the leases were watched");
    assert!(handover < chaos::leases::HANDOVER_LIMIT, "{outcome}");
}
