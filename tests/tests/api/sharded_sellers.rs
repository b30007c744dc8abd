//! The seller's side on several shards (ADR 42, 45): a seller's orders are kept, and their list
//! read, on the shard of the seller's gene, whichever shards their buyers' orders are on; the
//! reconcile across shards compares the seller views with the order views.

use std::collections::BTreeMap;

use command_api::reshard::reconcile_every_shard;
use event_store::gene_of_buyer;
use reqwest::StatusCode;
use serde_json::json;
use sqlx::Connection;

use crate::helpers::{TestApp, eventually, page_ids, spawn_sharded_app, thirds};
use crate::resharding::{RECONCILE_WAIT, buyers_in, close, router, shard_stores, shard_urls};

/// The gene ranges of [`thirds`], one per shard.
const THIRDS: [std::ops::RangeInclusive<u16>; 3] = [0..=340, 341..=681, 682..=1023];

/// `seller` creates the product `sku` with plenty of stock.
async fn create_product_of(app: &TestApp, seller: &str, sku: &str) {
    let response = app
        .client
        .post(app.url("/v1/products"))
        .bearer_auth(app.token(command_api::auth::Role::Seller, seller))
        .json(&json!({
            "sku": sku,
            "title": format!("Product {sku}"),
            "price_cents": 250,
            "initial_stock": 1_000,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
}

/// Every `(seller_id, order_id)` row of the seller view of the database at `url`.
async fn seller_rows(url: &str) -> Vec<(String, String)> {
    let mut db = sqlx::PgConnection::connect(url).await.unwrap();
    sqlx::query_as("SELECT seller_id, order_id FROM seller_orders ORDER BY seller_id, order_id")
        .fetch_all(&mut db)
        .await
        .unwrap()
}

/// A seller on each shard sells to a buyer on each shard: each seller's list holds its three
/// orders, and the seller view of the seller's shard holds them, no other shard's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sellers_orders_are_kept_and_listed_on_the_sellers_shard() {
    let app = spawn_sharded_app().await;
    let sellers: Vec<String> = THIRDS
        .iter()
        .map(|genes| buyers_in("shop", genes, 1).remove(0))
        .collect();
    let buyers: Vec<String> = THIRDS
        .iter()
        .map(|genes| buyers_in("buyer", genes, 1).remove(0))
        .collect();
    let mut expected: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for seller in &sellers {
        let sku = format!("tea-of-{seller}");
        create_product_of(&app, seller, &sku).await;
        for buyer in &buyers {
            let order = app.order(buyer, &[(&sku, 1, 1)]).await;
            let id = order["order_id"].as_str().unwrap().to_owned();
            expected.entry(seller.clone()).or_default().push(id);
        }
    }
    for (seller, orders) in &mut expected {
        orders.sort();
        let token = app.token(command_api::auth::Role::Seller, seller);
        let listed = eventually(|| async {
            let mut listed = page_ids(&app.orders_page("sellers", &token, "").await);
            listed.sort();
            (listed == *orders).then_some(listed)
        })
        .await;
        assert_eq!(listed, *orders, "{seller}");
    }

    let map = thirds();
    for (shard, url) in shard_urls(&app) {
        let mut kept: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (seller, order) in seller_rows(&url).await {
            kept.entry(seller).or_default().push(order);
        }
        let theirs: BTreeMap<String, Vec<String>> = expected
            .iter()
            .filter(|(seller, _)| map.assignment(gene_of_buyer(seller)).read == shard)
            .map(|(seller, orders)| (seller.clone(), orders.clone()))
            .collect();
        assert_eq!(theirs.len(), 1, "one seller on {shard}");
        assert_eq!(kept, theirs, "the seller view of {shard}");
    }

    // reconcile across the shards compares the seller views with the order views
    let stores = shard_stores(&app).await;
    let report = reconcile_every_shard(&router(&stores).await, RECONCILE_WAIT, &mut |_| {})
        .await
        .unwrap();
    assert!(report.is_clean(), "{:#?}", report.differences);
    let seller = &sellers[1];
    let (gone, stale) = (&expected[seller][0], &expected[seller][1]);
    let url = &shard_urls(&app)[&map.assignment(gene_of_buyer(seller)).read];
    let mut db = sqlx::PgConnection::connect(url).await.unwrap();
    sqlx::query("DELETE FROM seller_orders WHERE order_id = $1")
        .bind(gone)
        .execute(&mut db)
        .await
        .unwrap();
    sqlx::query("UPDATE seller_orders SET version = 0 WHERE order_id = $1")
        .bind(stale)
        .execute(&mut db)
        .await
        .unwrap();
    let report = reconcile_every_shard(&router(&stores).await, RECONCILE_WAIT, &mut |_| {})
        .await
        .unwrap();
    let found: Vec<(&str, &str, &str)> = report
        .differences
        .iter()
        .map(|d| (d.kind.as_str(), d.view.as_str(), d.id.as_str()))
        .collect();
    let mut want = vec![
        ("missing", "seller_orders", gone.as_str()),
        ("version", "seller_orders", stale.as_str()),
    ];
    want.sort_by_key(|(_, _, id)| *id);
    assert_eq!(found, want);
    close(stores).await;
    app.stop().await;
}

/// An archive batch stopped after its commit, before the seller views forgot the orders it
/// moved (a crash; here the seller's view cannot be written), leaves them to the next batch:
/// the seller's hot list drops the archived order then, though nothing is left to archive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_archive_stopped_before_the_seller_views_forgot_is_finished_by_the_next_batch() {
    let app = spawn_sharded_app().await;
    let map = thirds();
    let seller_shard = &map.assignment(gene_of_buyer("shop-1")).read;
    let buyer = THIRDS
        .iter()
        .map(|genes| buyers_in("buyer", genes, 1).remove(0))
        .find(|buyer| map.assignment(gene_of_buyer(buyer)).read != *seller_shard)
        .unwrap();
    create_product_of(&app, "shop-1", "tea").await;
    let settled = app.order(&buyer, &[("tea", 1, 1)]).await;
    let settled = settled["order_id"].as_str().unwrap().to_owned();
    let cancelled = app.cancel_order(&buyer, &settled, 1).await;
    assert_eq!(cancelled.status(), StatusCode::OK);
    let open = app.order(&buyer, &[("tea", 1, 1)]).await;
    let open = open["order_id"].as_str().unwrap().to_owned();
    let hot = |want: Vec<String>| {
        let app = &app;
        async move {
            eventually(|| async {
                let mut listed = page_ids(&app.orders_page("sellers", &app.seller(), "").await);
                listed.sort();
                (listed == want).then_some(())
            })
            .await;
        }
    };
    let mut both = vec![settled.clone(), open.clone()];
    both.sort();
    hot(both).await;

    let stores = shard_stores(&app).await;
    let routed = router(&stores).await.routed_db().unwrap();
    let buyers_store = &stores[&map.assignment(gene_of_buyer(&buyer)).read];
    let archiver = projections::Archiver::new(buyers_store, chrono::TimeDelta::zero(), 500)
        .with_seller_views(routed);
    let mut db = sqlx::PgConnection::connect(&shard_urls(&app)[seller_shard])
        .await
        .unwrap();
    sqlx::query("ALTER TABLE seller_orders RENAME TO seller_orders_away")
        .execute(&mut db)
        .await
        .unwrap();
    let stopped = archiver.run(None, |_| {}).await;
    sqlx::query("ALTER TABLE seller_orders_away RENAME TO seller_orders")
        .execute(&mut db)
        .await
        .unwrap();
    assert!(stopped.is_err(), "the seller view could not be written");
    let archived = app
        .orders_page("buyers", &app.buyer(&buyer), "archived=true")
        .await;
    assert_eq!(
        page_ids(&archived),
        [settled.as_str()],
        "the batch committed"
    );

    let next = archiver.run(None, |_| {}).await.unwrap();
    assert_eq!(next.moved, 0, "nothing left to archive");
    hot(vec![open]).await;
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM seller_forgets")
        .fetch_one(buyers_store.postgres_pool().unwrap())
        .await
        .unwrap();
    assert_eq!(left, 0, "every record of a forget to do is gone");
    close(stores).await;
    app.stop().await;
}
