//! The `orders` commands that work on one database at a time, on three shards
//! ([`crate::helpers::spawn_sharded_app`]), run as the operator runs them (the binary, with
//! `DATABASE_URL` and `ORDERS_SHARDS`):
//! - `orders audit` finds an order on the shard its gene is read from.
//!
//! The tests are here rather than wrapped in `main.rs`: the module's name puts `sharded` in
//! each test's name, which the nextest group of three-database tests matches.

use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use event_store::{gene_of_buyer, gene_of_stream};
use serde_json::Value;

use crate::helpers::{NewProduct, SHARDS, TestApp, spawn_sharded_app};

/// The genes of `s2` under [`crate::helpers::thirds`].
const ON_S2: RangeInclusive<u16> = 341..=681;

/// Connections of each pool of an `orders` run: the fewest the setting takes (three tests of
/// three databases may run at once on one server).
const COMMAND_POOL: u32 = 4;

/// The first `{prefix}-{n}` whose gene (by `gene`) is in `genes`.
fn id_on(prefix: &str, genes: &RangeInclusive<u16>, gene: impl Fn(&str) -> u16) -> String {
    (0..)
        .map(|n| format!("{prefix}-{n}"))
        .find(|id| genes.contains(&gene(id)))
        .unwrap()
}

/// The `orders` binary built beside this test binary.
fn orders_bin() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let bin = exe
        .parent()
        .and_then(|deps| deps.parent())
        .map(|dir| dir.join("orders"))
        .unwrap();
    assert!(
        bin.exists(),
        "the orders binary is not built at {}: scripts/test builds it with the workspace",
        bin.display()
    );
    bin
}

/// `orders ARGS` on the app's databases, configured through the environment.
fn orders(app: &TestApp, args: &[&str]) -> Output {
    let shards: Vec<String> = SHARDS
        .iter()
        .zip(app.databases().into_iter().skip(1))
        .map(|(name, url)| format!("{name}={url}"))
        .collect();
    Command::new(orders_bin())
        .args(args)
        .env("DATABASE_URL", &app.settings.database_url)
        .env("ORDERS_SHARDS", shards.join(","))
        .env("ORDERS_POSTGRES_MAX_CONNECTIONS", COMMAND_POOL.to_string())
        .env_remove("NATS_URL")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// An order of one unit of a SKU of its own on `default`, placed by buyer `buyer` whose
/// gene is in `genes` (so on another shard): its id.
async fn order_on(app: &TestApp, buyer: &str, genes: &RangeInclusive<u16>) -> String {
    let sku = id_on(&format!("{buyer}-tea"), &(0..=340), |id| {
        gene_of_stream("Sku", id)
    });
    app.create_product(NewProduct {
        sku: &sku,
        price_cents: 300,
        stock: 100,
    })
    .await;
    let placed = app
        .order(&id_on(buyer, genes, gene_of_buyer), &[(&sku, 1, 1)])
        .await;
    placed["order_id"].as_str().unwrap().to_owned()
}

/// `orders audit` of an order on `s2` reads it from `s2`: its events and its state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_reads_an_order_from_the_shard_its_gene_is_read_from() {
    let app = spawn_sharded_app().await;
    let order = order_on(&app, "audited", &ON_S2).await;

    let output = orders(&app, &["audit", &order]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let audit: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(audit["order_id"], order.as_str());
    assert_eq!(audit["events"][0]["event_type"], "OrderPlaced", "{audit}");
    assert_eq!(audit["state"]["status"], "PendingPayment", "{audit}");

    let missing = orders(&app, &["audit", "9999999999"]);
    assert_eq!(missing.status.code(), Some(1), "{}", text(&missing.stderr));
    assert!(
        text(&missing.stderr).contains("no order 9999999999 in the log of shard"),
        "{}",
        text(&missing.stderr)
    );
}
