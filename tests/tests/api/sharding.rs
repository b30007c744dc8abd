//! Serving on several shards (ADR 42): three databases in the one server, a third of the
//! genes on each ([`crate::helpers::spawn_sharded_app`]). A placement whose order and SKUs are
//! on different shards, and its compensation; a node whose map is stale refused by a gene's
//! fence and its command landing on the new shard.

use std::ops::RangeInclusive;
use std::time::{Duration, Instant};

use event_store::{EventStore, gene_of_buyer, gene_of_stream};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::Connection;

use crate::helpers::{NewProduct, SHARDS, TestApp, eventually, page_ids, thirds};

/// The genes of each shard under [`thirds`], in the order of [`TestApp::databases`].
pub(crate) const THIRDS: [RangeInclusive<u16>; 3] = [0..=340, 341..=681, 682..=1023];

/// The first `{prefix}-{n}` whose gene (by `gene`) is in `genes`.
pub(crate) fn id_on(
    prefix: &str,
    genes: &RangeInclusive<u16>,
    gene: impl Fn(&str) -> u16,
) -> String {
    (0..)
        .map(|n| format!("{prefix}-{n}"))
        .find(|id| genes.contains(&gene(id)))
        .unwrap()
}

/// The event types of stream `aggregate_type`/`id` in the log of the database at `url`.
async fn events_in(url: &str, aggregate_type: &str, id: &str) -> Vec<String> {
    let mut db = sqlx::PgConnection::connect(url).await.unwrap();
    sqlx::query_scalar(
        "SELECT event_type FROM events WHERE aggregate_type = $1 AND aggregate_id = $2 \
         ORDER BY sequence",
    )
    .bind(aggregate_type)
    .bind(id)
    .fetch_all(&mut db)
    .await
    .unwrap()
}

/// The event types of the stream on each of the app's databases.
async fn events_on_each(app: &TestApp, aggregate_type: &str, id: &str) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    for url in app.databases() {
        found.push(events_in(&url, aggregate_type, id).await);
    }
    found
}

/// The order is written on its buyer's shard, each SKU's stock on the SKU's: a placement is a
/// sequence of single-stream commands, so it spans databases as it is; when one SKU is short,
/// the reservation made on another database is released by the compensation.
pub async fn an_order_and_its_skus_on_other_shards_place_and_compensate(app: TestApp) {
    let buyer = id_on("buyer", &THIRDS[0], gene_of_buyer);
    let plenty = id_on("tea", &THIRDS[1], |id| gene_of_stream("Sku", id));
    let scarce = id_on("milk", &THIRDS[2], |id| gene_of_stream("Sku", id));
    for (sku, stock) in [(&plenty, 5), (&scarce, 1)] {
        app.create_product(NewProduct {
            sku,
            price_cents: 250,
            stock,
        })
        .await;
    }

    let placed = app.order(&buyer, &[(&plenty, 2, 1)]).await;
    let first = placed["order_id"].as_str().unwrap();
    let order = events_on_each(&app, "Order", first).await;
    assert!(order[0].contains(&"OrderPlaced".to_owned()), "{order:?}");
    assert!(order[1].is_empty() && order[2].is_empty(), "{order:?}");
    let stock = events_on_each(&app, "Sku", &plenty).await;
    assert_eq!(stock[1], ["SkuCreated", "StockReserved"], "{stock:?}");
    assert!(stock[0].is_empty() && stock[2].is_empty(), "{stock:?}");

    // two units reserved on s2, then three asked of the one on s3: refused, and the two
    // released again on s2
    let (second, token) = app.checkout(&buyer).await;
    let refused = app
        .place_order(&buyer, &second, &token, &[(&plenty, 2, 1), (&scarce, 3, 1)])
        .await;
    assert_eq!(refused.status(), StatusCode::CONFLICT);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["type"], "/problems/out-of-stock", "{body}");
    let stock = events_on_each(&app, "Sku", &plenty).await;
    assert_eq!(
        stock[1],
        [
            "SkuCreated",
            "StockReserved",
            "StockReserved",
            "StockReleased"
        ],
        "{stock:?}"
    );
    assert_eq!(
        events_on_each(&app, "Sku", &scarce).await[2],
        ["SkuCreated"]
    );
    eventually(|| async {
        let stock = app.stock_when(&plenty, |_| true).await;
        (stock["available"] == 3 && stock["reserved"] == 2).then_some(())
    })
    .await;
    // the first order is read back from its buyer's shard
    let read = app.get_order(&app.buyer(&buyer), first).await;
    assert_eq!(read.status(), StatusCode::OK);
    app.stop().await;
}

/// A gene's writes move from `default` to `s3` (the move's fourth step, done here by hand): the
/// gene is fenced in `default`, and only later does the map that says so (version 3) reach the
/// node. Meanwhile the node routes the buyer's cart to `default` by its stale map, is refused
/// by the fence, waits, and writes the cart on `s3`; `default` takes nothing of it.
pub async fn a_node_with_a_stale_map_is_fenced_off_and_writes_on_the_new_shard(app: TestApp) {
    const MAP_LATE_BY: Duration = Duration::from_millis(1_500);
    let buyer = id_on("buyer", &THIRDS[0], gene_of_buyer);
    let gene = gene_of_buyer(&buyer);
    let set_item = |sku: &'static str| {
        app.client
            .put(app.url(&format!("/v1/cart/items/{sku}")))
            .bearer_auth(app.buyer(&buyer))
            .json(&json!({ "quantity": 1 }))
            .send()
    };
    let first = set_item("tea").await.unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    let databases = app.databases();
    assert_eq!(events_in(&databases[0], "Cart", &buyer).await.len(), 1);

    let default = EventStore::connect(&databases[0]).await.unwrap();
    default.fence_gene(gene, 3).await.unwrap();
    let moved = thirds()
        .with_writes_on(gene..=gene, &SHARDS[1].parse().unwrap())
        .unwrap();
    assert_eq!(moved.version(), 3);
    let catalog = shards::MapStore::new(default.postgres_pool().unwrap().clone());
    let started = Instant::now();
    let (second, ()) = tokio::join!(set_item("milk"), async {
        tokio::time::sleep(MAP_LATE_BY).await;
        catalog.publish(&moved, "gene moved to s3").await.unwrap();
    });
    let second = second.unwrap();
    assert_eq!(second.status(), StatusCode::OK);
    assert!(started.elapsed() >= MAP_LATE_BY, "{:?}", started.elapsed());
    // nothing of the cart after the fence in default; the new command's event on s3 (this test
    // copies no history: the stream starts there)
    assert_eq!(events_in(&databases[0], "Cart", &buyer).await.len(), 1);
    assert_eq!(events_in(&databases[2], "Cart", &buyer).await.len(), 1);
    assert!(events_in(&databases[1], "Cart", &buyer).await.is_empty());
    if let Some(pool) = default.postgres_pool() {
        pool.close().await;
    }
    app.stop().await;
}

/// Each buyer's orders live on the buyer's shard, so a seller's orders are spread over every
/// database: the seller's list gathers them, newest first, and pages through them.
pub async fn a_seller_lists_orders_from_every_shard(app: TestApp) {
    app.create_product(NewProduct {
        sku: "tea",
        price_cents: 300,
        stock: 100,
    })
    .await;
    let mut placed = Vec::new();
    for genes in &THIRDS {
        let buyer = id_on("buyer", genes, gene_of_buyer);
        let order = app.order(&buyer, &[("tea", 1, 1)]).await;
        placed.push(order["order_id"].as_str().unwrap().to_owned());
    }
    let on_each = futures::future::join_all(
        placed
            .iter()
            .map(|id| async { events_on_each(&app, "Order", id).await }),
    )
    .await;
    for (shard, events) in on_each.iter().enumerate() {
        assert!(!events[shard].is_empty(), "{on_each:?}");
    }
    let newest_first: Vec<String> = placed.iter().rev().cloned().collect();
    let page = eventually(|| async {
        let page = app.orders_page("sellers", &app.seller(), "").await;
        (page_ids(&page).len() == 3).then_some(page)
    })
    .await;
    assert_eq!(page_ids(&page), newest_first);
    let first_two = app.orders_page("sellers", &app.seller(), "limit=2").await;
    assert_eq!(page_ids(&first_two), newest_first[..2]);
    let cursor = first_two["next_cursor"].as_str().unwrap();
    let rest = app
        .orders_page(
            "sellers",
            &app.seller(),
            &format!("limit=2&cursor={cursor}"),
        )
        .await;
    assert_eq!(page_ids(&rest), newest_first[2..]);
    app.stop().await;
}
