//! The `orders` commands that work on one database at a time, on three shards
//! ([`crate::helpers::spawn_sharded_app`]), run as the operator runs them (the binary, with
//! `DATABASE_URL` and `ORDERS_SHARDS`):
//! - `orders audit` finds an order on the shard its gene is read from;
//! - `orders replay` rebuilds the views of every shard, or of the one `--only-shard` names,
//!   and an unknown shard is exit 2 with nothing rebuilt; it copies the sellers' orders to
//!   their shards again;
//! - `orders archive` archives the settled orders of every shard, `orders dead-letters list`
//!   lists every shard's;
//! - a shard's database without its migrations stops a command before any work, and
//!   `orders migrate` migrates it.
//!
//! The tests are here rather than wrapped in `main.rs`: the module's name puts `sharded` in
//! each test's name, which the nextest group of three-database tests matches.

use std::ops::RangeInclusive;
use std::process::{Command, Output, Stdio};

use event_store::{gene_of_buyer, gene_of_stream};
use reqwest::StatusCode;
use serde_json::Value;
use sqlx::Connection;

use crate::helpers::{NewProduct, SHARDS, TestApp, fresh_database, orders_bin, spawn_sharded_app};

/// The genes of `s2` and `s3` under [`crate::helpers::thirds`].
const ON_S2: RangeInclusive<u16> = 341..=681;
const ON_S3: RangeInclusive<u16> = 682..=1023;

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

/// `orders ARGS` on the app's databases, configured through the environment.
fn orders(app: &TestApp, args: &[&str]) -> Output {
    orders_with(app, &[], args)
}

/// [`orders`] with the shards `more` (name, URL) configured besides the app's.
fn orders_with(app: &TestApp, more: &[(&str, &str)], args: &[&str]) -> Output {
    let shards: Vec<String> = SHARDS
        .iter()
        .copied()
        .zip(app.databases().into_iter().skip(1))
        .map(|(name, url)| format!("{name}={url}"))
        .chain(more.iter().map(|(name, url)| format!("{name}={url}")))
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

/// The database of shard `name` (`default` or one of [`SHARDS`]).
fn database_of(app: &TestApp, name: &str) -> String {
    let index = std::iter::once("default")
        .chain(SHARDS)
        .position(|shard| shard == name)
        .unwrap();
    app.databases()[index].clone()
}

/// Runs `sql` on the database at `url`.
async fn execute(url: &str, sql: &str) {
    let mut db = sqlx::PgConnection::connect(url).await.unwrap();
    sqlx::query(sql).execute(&mut db).await.unwrap();
}

/// The count `sql` answers on the database at `url`.
async fn count(url: &str, sql: &str) -> i64 {
    let mut db = sqlx::PgConnection::connect(url).await.unwrap();
    sqlx::query_scalar(sql).fetch_one(&mut db).await.unwrap()
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

/// The app with an order on `s2` and one on `s3`, whose order views were then emptied behind
/// the projections' backs; the two shards' databases.
async fn an_order_on_s2_and_s3_with_their_views_emptied() -> (TestApp, String, String) {
    let app = spawn_sharded_app().await;
    order_on(&app, "on-s2", &ON_S2).await;
    order_on(&app, "on-s3", &ON_S3).await;
    app.read_side_settled().await;
    let (s2, s3) = (database_of(&app, SHARDS[0]), database_of(&app, SHARDS[1]));
    for url in [&s2, &s3] {
        execute(url, "DELETE FROM order_detail").await;
    }
    (app, s2, s3)
}

/// The orders' views of `s2` and `s3` emptied behind the projections' backs come back with
/// `orders replay`, which names each shard as it goes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_rebuilds_the_views_of_every_shard() {
    let (app, s2, s3) = an_order_on_s2_and_s3_with_their_views_emptied().await;

    let output = orders(&app, &["replay", "--projection", "orders"]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    for url in [&s2, &s3] {
        assert_eq!(count(url, "SELECT count(*) FROM order_detail").await, 1);
    }
    for shard in std::iter::once("default").chain(SHARDS) {
        assert!(
            stderr.contains(&format!("orders on shard {shard} rebuilt from")),
            "{stderr}"
        );
    }
}

/// `orders replay --projection sellers` copies every shard's orders to their sellers' shard
/// again and deletes the rows of orders no shard holds: the seller view of `default` (where
/// `shop-1`'s gene is), emptied and given a row of an order that does not exist, holds the
/// seller's two orders again and nothing else (ADR 45).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_copies_the_sellers_orders_again_and_deletes_what_no_shard_holds() {
    let app = spawn_sharded_app().await;
    let mut sold = vec![
        order_on(&app, "on-s2", &ON_S2).await,
        order_on(&app, "on-s3", &ON_S3).await,
    ];
    sold.sort();
    app.read_side_settled().await;
    let default = database_of(&app, "default");
    execute(&default, "DELETE FROM seller_orders").await;
    execute(
        &default,
        "INSERT INTO seller_orders (order_id, buyer_id, seller_id, seller_gene, status, \
         placed_at_us, version, content_hash, state, changed_at_us) \
         VALUES ('1', 'nobody', 'shop-1', 71, 'Placed', 1, 1, 'x', '{}', 1)",
    )
    .await;

    let output = orders(&app, &["replay", "--projection", "sellers"]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(
            "sellers on shard default rebuilt: 1 row(s) of orders no shard holds deleted"
        ),
        "{stderr}"
    );
    let mut db = sqlx::PgConnection::connect(&default).await.unwrap();
    let kept: Vec<String> =
        sqlx::query_scalar("SELECT order_id FROM seller_orders ORDER BY order_id")
            .fetch_all(&mut db)
            .await
            .unwrap();
    assert_eq!(kept, sold);
    let page: Value = app.orders_page("sellers", &app.seller(), "").await;
    let mut listed = crate::helpers::page_ids(&page);
    listed.sort();
    assert_eq!(listed, sold);
}

/// `--only-shard s3` rebuilds `s3`'s views and leaves `s2`'s as they are; a shard that is not
/// configured is exit 2, naming it, with nothing rebuilt anywhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_of_one_shard_rebuilds_it_alone_and_an_unknown_one_is_refused() {
    let (app, s2, s3) = an_order_on_s2_and_s3_with_their_views_emptied().await;

    let unknown = orders(&app, &["replay", "--only-shard", "s9"]);
    let stderr = text(&unknown.stderr);
    assert_eq!(unknown.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("no shard s9"), "{stderr}");
    for url in [&s2, &s3] {
        assert_eq!(count(url, "SELECT count(*) FROM order_detail").await, 0);
    }

    let one = orders(&app, &["replay", "--only-shard", SHARDS[1]]);
    let stderr = text(&one.stderr);
    assert_eq!(one.status.code(), Some(0), "{stderr}");
    assert_eq!(count(&s3, "SELECT count(*) FROM order_detail").await, 1);
    assert_eq!(count(&s2, "SELECT count(*) FROM order_detail").await, 0);
    assert!(!stderr.contains("shard default"), "{stderr}");
}

/// `orders archive` moves the settled orders of every shard, not only the default's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archive_moves_the_settled_orders_of_every_shard() {
    let app = spawn_sharded_app().await;
    let order = order_on(&app, "cancels", &ON_S3).await;
    let buyer = id_on("cancels", &ON_S3, gene_of_buyer);
    let cancelled = app.cancel_order(&buyer, &order, 1).await;
    assert_eq!(cancelled.status(), StatusCode::OK);
    app.read_side_settled().await;

    let output = orders(&app, &["archive", "--older-than-days", "0"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let s3 = database_of(&app, SHARDS[1]);
    let archived = format!("SELECT count(*) FROM order_archive WHERE order_id = '{order}'");
    assert_eq!(count(&s3, &archived).await, 1, "{}", text(&output.stdout));
}

/// `orders dead-letters list` shows each shard's parked events under its name; a retry of an
/// id no shard holds says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_are_listed_from_every_shard() {
    let app = spawn_sharded_app().await;
    execute(
        &database_of(&app, SHARDS[0]),
        "INSERT INTO dead_letters (follower, txid, position, aggregate_type, aggregate_id, \
         sequence, event_type, error, attempts, parked_at_ms) \
         VALUES ('orders', 1, 1, 'Order', 'parked-1', 1, 'OrderPlaced', 'a parked test event', \
         10, 0)",
    )
    .await;

    let every = orders(&app, &["dead-letters", "list"]);
    let stdout = text(&every.stdout);
    assert_eq!(every.status.code(), Some(0), "{}", text(&every.stderr));
    assert!(
        stdout.contains("shard default: 0 dead letter(s)"),
        "{stdout}"
    );
    assert!(stdout.contains("shard s2: 1 dead letter(s)"), "{stdout}");
    assert!(stdout.contains("a parked test event"), "{stdout}");

    let one = orders(&app, &["dead-letters", "list", "--only-shard", SHARDS[1]]);
    let stdout = text(&one.stdout);
    assert_eq!(one.status.code(), Some(0), "{}", text(&one.stderr));
    assert_eq!(stdout, "shard s3: 0 dead letter(s)\n");

    let retry = orders(&app, &["dead-letters", "retry", "999"]);
    let stderr = text(&retry.stderr);
    assert_eq!(retry.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("no dead letter 999 on any shard"),
        "{stderr}"
    );
}

/// A configured shard whose database is not migrated stops `orders replay` before it rebuilds
/// anything, naming the shard and the migration; `orders migrate` migrates every shard's
/// database, after which the replay runs on it too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shard_without_its_migrations_stops_replay_until_migrate_migrates_it() {
    let app = spawn_sharded_app().await;
    order_on(&app, "on-s2", &ON_S2).await;
    app.read_side_settled().await;
    let s2 = database_of(&app, SHARDS[0]);
    execute(&s2, "DELETE FROM order_detail").await;
    let s4 = fresh_database().await;
    let more = [("s4", s4.as_str())];

    let refused = orders_with(&app, &more, &["replay"]);
    let stderr = text(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("shard s4"), "{stderr}");
    assert!(stderr.contains("lacks migration"), "{stderr}");
    assert_eq!(count(&s2, "SELECT count(*) FROM order_detail").await, 0);

    let migrated = orders_with(&app, &more, &["migrate"]);
    let stderr = text(&migrated.stderr);
    assert_eq!(migrated.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("orders: shard s4 ("), "{stderr}");
    let replayed = orders_with(&app, &more, &["replay"]);
    let stderr = text(&replayed.stderr);
    assert_eq!(replayed.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("orders on shard s4 rebuilt from 0 events"),
        "{stderr}"
    );
    assert_eq!(count(&s2, "SELECT count(*) FROM order_detail").await, 1);
}
