//! Moving genes between shards while serving (ADR 42, `orders reshard`), on three databases
//! in the one server ([`crate::helpers::spawn_sharded_app`]):
//! - half of `default`'s genes move to `s3` while buyers place and pay: no request fails,
//!   every acknowledged order is in the log of its gene's shard once, reconcile over every
//!   shard is clean, and after `--cleanup` each order's stream is on one database only;
//! - the move is killed at each of its steps (the `orders` binary, SIGKILL) and run again:
//!   it completes with the same outcome.

use std::collections::BTreeMap;
use std::ops::RangeInclusive;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use command_api::reshard::{Request, Resharder, reconcile_every_shard};
use event_store::{EventStore, gene_of_buyer, gene_of_stream};
use reqwest::StatusCode;
use serde_json::Value;
use shards::{MapStore, ShardName, ShardRouter, Step};
use sqlx::Connection;

use crate::helpers::{NewProduct, SHARDS, TestApp, orders_bin, page_ids};

/// Half of `default`'s genes under the app's map (0-340 there).
pub(crate) const MOVING: RangeInclusive<u16> = 0..=170;

/// Clients placing and paying at once.
pub(crate) const CLIENTS: usize = 4;

/// How long the views have to catch up before a reconcile compares.
pub(crate) const RECONCILE_WAIT: Duration = Duration::from_secs(30);

/// An order a client was answered for: its id, and whether its payment was acknowledged.
pub(crate) type Acknowledged = Arc<Mutex<Vec<(String, bool)>>>;

/// Requests answered otherwise than with success: what, and how.
pub(crate) type Failures = Arc<Mutex<Vec<String>>>;

/// `n` buyers whose genes are in `genes`, named after `prefix`.
pub(crate) fn buyers_in(prefix: &str, genes: &RangeInclusive<u16>, n: usize) -> Vec<String> {
    (0..)
        .map(|i| format!("{prefix}-{i}"))
        .filter(|id| genes.contains(&gene_of_buyer(id)))
        .take(n)
        .collect()
}

/// A SKU id whose gene is in `genes`.
pub(crate) fn sku_in(prefix: &str, genes: &RangeInclusive<u16>) -> String {
    (0..)
        .map(|i| format!("{prefix}-{i}"))
        .find(|id| genes.contains(&gene_of_stream("Sku", id)))
        .unwrap()
}

/// The app's databases by shard name (`default`, then [`SHARDS`]).
pub(crate) fn shard_urls(app: &TestApp) -> BTreeMap<ShardName, String> {
    let names = std::iter::once("default").chain(SHARDS);
    names
        .zip(app.databases())
        .map(|(name, url)| (name.parse().unwrap(), url))
        .collect()
}

/// Connections of each pool a test opens on a shard (the app has its own): a few tests of
/// three databases each run at once on one server.
const TEST_POOL: u32 = 2;

/// Connections of each pool of an `orders reshard` run: the fewest the setting takes.
const RESHARD_POOL: u32 = 4;

/// A store on each of the app's databases.
pub(crate) async fn shard_stores(app: &TestApp) -> BTreeMap<ShardName, EventStore> {
    let mut stores = BTreeMap::new();
    for (name, url) in shard_urls(app) {
        let store = EventStore::connect_with_pool(&url, TEST_POOL)
            .await
            .unwrap();
        stores.insert(name, store);
    }
    stores
}

/// Closes the pools of `stores`.
pub(crate) async fn close(stores: BTreeMap<ShardName, EventStore>) {
    for store in stores.values() {
        if let Some(pool) = store.postgres_pool() {
            pool.close().await;
        }
    }
}

/// A router over `stores` under the map in force now.
pub(crate) async fn router(stores: &BTreeMap<ShardName, EventStore>) -> ShardRouter {
    let catalog = stores[&ShardName::default_shard()].postgres_pool().unwrap();
    let map = MapStore::new(catalog.clone()).newest().await.unwrap();
    let (_, followed) = tokio::sync::watch::channel(Arc::new(map));
    ShardRouter::new(followed, stores.clone())
}

/// The pool of the catalog (the default database) among `stores`.
pub(crate) fn catalog(stores: &BTreeMap<ShardName, EventStore>) -> sqlx::PgPool {
    stores[&ShardName::default_shard()]
        .postgres_pool()
        .unwrap()
        .clone()
}

/// The tests' move: [`MOVING`] to `s3`.
pub(crate) fn moving_to_s3() -> Request {
    Request {
        genes: MOVING,
        target: SHARDS[1].parse().unwrap(),
    }
}

/// SKUs on a moving gene, on a staying gene of the same shard and on another shard, each with
/// plenty of stock.
pub(crate) async fn products(app: &TestApp) -> Vec<String> {
    let skus = vec![
        sku_in("moving-tea", &MOVING),
        sku_in("staying-tea", &(171..=340)),
        sku_in("other-tea", &(682..=1023)),
    ];
    for sku in &skus {
        app.create_product(NewProduct {
            sku,
            price_cents: 100,
            stock: 1_000_000,
        })
        .await;
    }
    skus
}

/// Places and pays one order of `sku` as `buyer`; records it, or what failed.
pub(crate) async fn place_and_pay(
    app: &TestApp,
    buyer: &str,
    sku: &str,
    acknowledged: &Acknowledged,
    failures: &Failures,
) {
    let (order_id, token) = app.checkout(buyer).await;
    let placed = app
        .place_order(buyer, &order_id, &token, &[(sku, 1, 1)])
        .await;
    if placed.status() != StatusCode::CREATED {
        let status = placed.status();
        let body = placed.text().await.unwrap_or_default();
        failures
            .lock()
            .unwrap()
            .push(format!("place {order_id}: {status} {body}"));
        return;
    }
    let placed: Value = placed.json().await.unwrap();
    let total = placed["total_cents"].as_i64().unwrap();
    let paid = app
        .notify_payment(&order_id, &format!("txn-{order_id}"), total)
        .await;
    let ok = paid.status().is_success();
    if !ok {
        let status = paid.status();
        let body = paid.text().await.unwrap_or_default();
        failures
            .lock()
            .unwrap()
            .push(format!("pay {order_id}: {status} {body}"));
    }
    acknowledged.lock().unwrap().push((order_id, ok));
}

/// Clients placing and paying orders of `skus` as `buyers` until `stop`.
pub(crate) fn load(
    app: &Arc<TestApp>,
    buyers: &[String],
    skus: &[String],
    stop: &Arc<AtomicBool>,
    acknowledged: &Acknowledged,
    failures: &Failures,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..CLIENTS)
        .map(|client| {
            let (app, stop) = (Arc::clone(app), Arc::clone(stop));
            let (acknowledged, failures) = (Arc::clone(acknowledged), Arc::clone(failures));
            let buyers: Vec<String> = buyers
                .iter()
                .skip(client)
                .step_by(CLIENTS)
                .cloned()
                .collect();
            let skus = skus.to_vec();
            tokio::spawn(async move {
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    let buyer = &buyers[n % buyers.len()];
                    let sku = &skus[n % skus.len()];
                    place_and_pay(&app, buyer, sku, &acknowledged, &failures).await;
                    n += 1;
                }
            })
        })
        .collect()
}

/// Lets the clients go on for 2 s after a move, stops them, and checks that none of their
/// requests failed.
pub(crate) async fn load_after_the_move_then_stop(
    stop: &AtomicBool,
    clients: Vec<tokio::task::JoinHandle<()>>,
    failures: &Failures,
) {
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.await.unwrap();
    }
    assert!(
        failures.lock().unwrap().is_empty(),
        "{:#?}",
        failures.lock().unwrap()
    );
}

/// The event types of the order's stream in the log of the database at `url`.
async fn order_events(url: &str, order_id: &str) -> Vec<String> {
    let mut db = sqlx::PgConnection::connect(url).await.unwrap();
    sqlx::query_scalar(
        "SELECT event_type FROM events WHERE aggregate_type = 'Order' AND aggregate_id = $1 \
         ORDER BY sequence",
    )
    .bind(order_id)
    .fetch_all(&mut db)
    .await
    .unwrap()
}

/// Every acknowledged order is in the log of the shard its gene is written to, placed once
/// and, when its payment was acknowledged, paid once; each stream of the log is whole on its
/// shard.
async fn every_order_is_on_its_shard_once(
    app: &TestApp,
    stores: &BTreeMap<ShardName, EventStore>,
    acknowledged: &[(String, bool)],
) -> usize {
    let map = router(stores).await.map();
    let urls = shard_urls(app);
    for (order_id, paid) in acknowledged {
        let gene = gene_of_stream("Order", order_id);
        let shard = &map.assignment(gene).write;
        let events = order_events(&urls[shard], order_id).await;
        let count = |kind: &str| events.iter().filter(|e| *e == kind).count();
        assert_eq!(count("OrderPlaced"), 1, "{order_id} on {shard}: {events:?}");
        if *paid {
            assert_eq!(
                count("PaymentConfirmed"),
                1,
                "{order_id} on {shard}: {events:?}"
            );
        }
    }
    acknowledged
        .iter()
        .filter(|(id, _)| MOVING.contains(&gene_of_stream("Order", id)))
        .count()
}

/// The seller's list, paged through: every acknowledged order once (the source keeps the
/// moved orders' rows until the cleanup, and must not answer for them).
async fn the_seller_lists_each_order_once(app: &TestApp, acknowledged: &[(String, bool)]) {
    let mut listed = Vec::new();
    let mut query = "limit=50".to_owned();
    loop {
        let page = app.orders_page("sellers", &app.seller(), &query).await;
        listed.extend(page_ids(&page));
        match page["next_cursor"].as_str() {
            Some(cursor) => query = format!("limit=50&cursor={cursor}"),
            None => break,
        }
    }
    let mut unique = listed.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), listed.len(), "an order is listed twice");
    let mut expected: Vec<String> = acknowledged.iter().map(|(id, _)| id.clone()).collect();
    expected.sort();
    assert_eq!(unique, expected);
}

/// Reconcile over every shard: clean, and every view up to its shard's head.
async fn reconcile_is_clean(app: &TestApp, stores: &BTreeMap<ShardName, EventStore>) {
    app.read_side_settled().await;
    let report = reconcile_every_shard(&router(stores).await, RECONCILE_WAIT, &mut |_| {})
        .await
        .unwrap();
    assert!(report.is_clean(), "{:#?}", report.differences);
    assert!(report.lagging.is_empty(), "{:#?}", report.lagging);
    assert!(report.orders_checked > 0);
}

/// After the cleanup, `default` holds no event of the moved genes, and every acknowledged
/// order's stream is on one database.
async fn the_cleanup_leaves_each_stream_on_one_database(
    app: &TestApp,
    acknowledged: &[(String, bool)],
) {
    let urls = shard_urls(app);
    let mut db = sqlx::PgConnection::connect(&urls[&ShardName::default_shard()])
        .await
        .unwrap();
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM events WHERE gene BETWEEN $1 AND $2")
        .bind(i16::try_from(*MOVING.start()).unwrap())
        .bind(i16::try_from(*MOVING.end()).unwrap())
        .fetch_one(&mut db)
        .await
        .unwrap();
    assert_eq!(left, 0);
    for (order_id, _) in acknowledged {
        let mut on = 0;
        for url in urls.values() {
            if !order_events(url, order_id).await.is_empty() {
                on += 1;
            }
        }
        assert_eq!(on, 1, "{order_id} is on {on} databases");
    }
}

/// The seller's gene moved with the others: after the cleanup the seller view of the target
/// holds each acknowledged order, and the source's none (ADR 45).
async fn the_sellers_orders_are_on_the_target_only(app: &TestApp, acknowledged: &[(String, bool)]) {
    assert!(MOVING.contains(&gene_of_buyer("shop-1")));
    let urls = shard_urls(app);
    let kept = |shard: ShardName| {
        let url = urls[&shard].clone();
        async move {
            let mut db = sqlx::PgConnection::connect(&url).await.unwrap();
            let mut ids: Vec<String> = sqlx::query_scalar(
                "SELECT order_id FROM seller_orders WHERE seller_id = 'shop-1' ORDER BY order_id",
            )
            .fetch_all(&mut db)
            .await
            .unwrap();
            ids.sort();
            ids
        }
    };
    assert!(kept(ShardName::default_shard()).await.is_empty());
    let mut expected: Vec<String> = acknowledged.iter().map(|(id, _)| id.clone()).collect();
    expected.sort();
    assert_eq!(kept(moving_to_s3().target).await, expected);
}

/// Half of `default`'s genes move to `s3` while clients place and pay orders of buyers on
/// every shard, the moving genes among them.
pub async fn a_move_under_place_pay_load_loses_fails_and_doubles_nothing(app: TestApp) {
    let app = Arc::new(app);
    let skus = products(&app).await;
    let mut buyers = buyers_in("mover", &MOVING, 8);
    buyers.extend(buyers_in("stayer", &(171..=1023), 8));
    let (acknowledged, failures) = (Acknowledged::default(), Failures::default());
    // a history to copy
    for (n, buyer) in buyers.iter().enumerate() {
        place_and_pay(&app, buyer, &skus[n % 3], &acknowledged, &failures).await;
    }
    let stop = Arc::new(AtomicBool::new(false));
    let clients = load(&app, &buyers, &skus, &stop, &acknowledged, &failures);
    tokio::time::sleep(Duration::from_secs(1)).await;

    let stores = shard_stores(&app).await;
    let catalog = catalog(&stores);
    let resharder = Resharder::new(catalog.clone(), &stores, RECONCILE_WAIT);
    let request = moving_to_s3();
    let mut steps = Vec::new();
    let job = resharder
        .run(Some(&request), None, &mut |told| {
            if let command_api::reshard::Progress::Step(job) = told {
                steps.push(job.step);
            }
        })
        .await
        .unwrap();
    assert_eq!(job.step, Step::Done);
    assert_eq!(steps, Step::ALL);
    load_after_the_move_then_stop(&stop, clients, &failures).await;
    let acknowledged = acknowledged.lock().unwrap().clone();
    let moved = every_order_is_on_its_shard_once(&app, &stores, &acknowledged).await;
    assert!(moved > 8, "only {moved} orders on the moving genes");
    let map = MapStore::new(catalog).newest().await.unwrap();
    for gene in [*MOVING.start(), *MOVING.end()] {
        assert_eq!(
            map.assignment(gene),
            &shards::Assignment::on(request.target.clone())
        );
    }
    reconcile_is_clean(&app, &stores).await;
    the_seller_lists_each_order_once(&app, &acknowledged).await;

    let cleaned = resharder.cleanup(&mut |_| {}).await.unwrap();
    assert_eq!(cleaned.len(), 1);
    the_cleanup_leaves_each_stream_on_one_database(&app, &acknowledged).await;
    the_sellers_orders_are_on_the_target_only(&app, &acknowledged).await;
    reconcile_is_clean(&app, &stores).await;
    the_seller_lists_each_order_once(&app, &acknowledged).await;
    // a moved order is read back from its new shard
    let (moved_order, _) = acknowledged
        .iter()
        .find(|(id, _)| MOVING.contains(&gene_of_stream("Order", id)))
        .unwrap();
    let buyer = buyers
        .iter()
        .find(|b| MOVING.contains(&gene_of_buyer(b)))
        .unwrap();
    let read = app.get_order(&app.buyer(buyer), moved_order).await;
    assert_eq!(read.status(), StatusCode::OK);
    close(stores).await;
    let app = Arc::into_inner(app).unwrap();
    app.stop().await;
}

/// `orders reshard` with the app's databases, and `args`.
fn reshard(app: &TestApp, args: &[&str]) -> Command {
    let shards: Vec<String> = shard_urls(app)
        .into_iter()
        .filter(|(name, _)| *name != ShardName::default_shard())
        .map(|(name, url)| format!("{name}={url}"))
        .collect();
    let mut command = Command::new(orders_bin());
    command
        .arg("reshard")
        .args(args)
        .env("DATABASE_URL", &app.settings.database_url)
        .env("ORDERS_SHARDS", shards.join(","))
        .env("ORDERS_POSTGRES_MAX_CONNECTIONS", RESHARD_POOL.to_string())
        .env_remove("RUST_LOG")
        .stdin(Stdio::null());
    command
}

/// Buyers on the moving genes in the killed moves' test.
const MOVERS: usize = 6;

/// How long a run of the move lives before it is killed: its start and a part of its step.
const KILL_AFTER: Duration = Duration::from_millis(1_000);

/// A transaction that holds the log of the database at `url` locked against readers too.
async fn lock_the_log(url: &str) -> sqlx::Transaction<'static, sqlx::Postgres> {
    let pool = sqlx::PgPool::connect(url).await.unwrap();
    let mut held = pool.begin().await.unwrap();
    sqlx::query("LOCK TABLE events IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *held)
        .await
        .unwrap();
    held
}

/// The step the running move has reached, if one runs.
async fn running_step(catalog: &str) -> Option<String> {
    let mut db = sqlx::PgConnection::connect(catalog).await.unwrap();
    sqlx::query_scalar("SELECT step FROM reshard_jobs WHERE step <> 'done'")
        .fetch_optional(&mut db)
        .await
        .unwrap()
}

/// The move is run up to each step (`--until`), then run again and killed with SIGKILL within
/// that step; the last run completes it. Orders placed before and between the runs are all on
/// their shard once, and reconcile is clean.
pub async fn a_move_killed_at_each_step_resumes_and_completes(app: TestApp) {
    let skus = products(&app).await;
    let mut buyers = buyers_in("mover", &MOVING, MOVERS);
    buyers.extend(buyers_in("stayer", &(171..=1023), 4));
    let (acknowledged, failures) = (Acknowledged::default(), Failures::default());
    for round in 0..3 {
        for (n, buyer) in buyers.iter().enumerate() {
            let sku = &skus[(n + round) % 3];
            place_and_pay(&app, buyer, sku, &acknowledged, &failures).await;
        }
    }
    let genes = format!("{}-{}", MOVING.start(), MOVING.end());
    let args = ["--genes", &genes, "--to", SHARDS[1]];
    for step in [
        Step::Copy,
        Step::Reconcile,
        Step::SwitchReads,
        Step::SwitchWrites,
    ] {
        // the steps before `step` done without a kill, then a run killed within it
        let until = step.as_str();
        let output = reshard(&app, &[&args[..], &["--until", until]].concat())
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "reshard --until {until}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(
            running_step(&app.settings.database_url).await.as_deref(),
            Some(until)
        );
        // the source's log locked holds every step up where it first reads the log, so that
        // the run is killed within the step
        let held = lock_the_log(&app.settings.database_url).await;
        let said = tempfile::NamedTempFile::new().unwrap();
        let mut child = reshard(&app, &args)
            .stdout(Stdio::null())
            .stderr(said.reopen().unwrap())
            .spawn()
            .unwrap();
        tokio::time::sleep(KILL_AFTER).await;
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended in {until}: {}",
            std::fs::read_to_string(said.path()).unwrap()
        );
        assert_eq!(
            running_step(&app.settings.database_url).await.as_deref(),
            Some(until)
        );
        child.kill().unwrap();
        child.wait().unwrap();
        held.rollback().await.unwrap();
        // orders keep coming between the runs, on the old shard until the writes switch;
        // once the source is fenced, a moving gene's commands wait for the run that switches
        // its writes (and are refused past the bound), so only the other genes' come then, of
        // the SKUs that stay
        let (between, skus) = if step == Step::SwitchWrites {
            (&buyers[MOVERS..], &skus[1..])
        } else {
            (&buyers[..4], &skus[..])
        };
        for (n, buyer) in between.iter().enumerate() {
            let sku = &skus[n % skus.len()];
            place_and_pay(&app, buyer, sku, &acknowledged, &failures).await;
        }
    }
    let output = reshard(&app, &args).output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("done"), "{stdout}");
    assert_eq!(running_step(&app.settings.database_url).await, None);
    // orders of the moved genes now go to s3
    for (n, buyer) in buyers.iter().enumerate() {
        place_and_pay(&app, buyer, &skus[n % 3], &acknowledged, &failures).await;
    }
    assert!(
        failures.lock().unwrap().is_empty(),
        "{:#?}",
        failures.lock().unwrap()
    );
    let acknowledged = acknowledged.lock().unwrap().clone();
    let stores = shard_stores(&app).await;
    every_order_is_on_its_shard_once(&app, &stores, &acknowledged).await;
    reconcile_is_clean(&app, &stores).await;
    // back to the source, which still holds the copies: refused, nothing started
    let back = reshard(&app, &["--genes", &genes, "--to", "default"])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&back.stderr);
    assert_eq!(back.status.code(), Some(2), "{said}");
    assert!(
        said.contains("run `orders reshard --cleanup` first"),
        "{said}"
    );
    assert_eq!(running_step(&app.settings.database_url).await, None);
    let cleanup = reshard(&app, &["--cleanup"]).output().unwrap();
    assert!(
        cleanup.status.success(),
        "{}",
        String::from_utf8_lossy(&cleanup.stderr)
    );
    the_cleanup_leaves_each_stream_on_one_database(&app, &acknowledged).await;
    reconcile_is_clean(&app, &stores).await;
    close(stores).await;
    app.stop().await;
}
