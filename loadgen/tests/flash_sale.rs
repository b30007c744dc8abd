//! The flash-sale scenario, short, against each peer of `bench/` served in this process: the
//! Redis peer (the Redis at $REDIS_URL, else 127.0.0.1:6379, under a key prefix of the test's
//! own) and the CRUD peer (a fresh PostgreSQL database). Each sells exactly its stock, never
//! more, never twice to a buyer, and answers every replay with the first order. A server
//! without campaigns fails the run instead of reporting a figure.

use std::net::TcpListener;

use actix_web::{App, HttpResponse, HttpServer, web};
use crud_peer::CrudPeer;
use loadgen::client::Api;
use loadgen::flash::{self, FlashConfig, FlashError};
use loadgen::stats::Report;
use redis_peer::RedisPeer;
use sqlx::PgPool;

const STOCK: u32 = 20;
const BUYERS: usize = 200;
const REPLAYS: usize = 2;

fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// A listener on a free port, and the base URL it answers at.
fn listener() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
    let port = listener.local_addr().expect("the bound address").port();
    (listener, format!("http://127.0.0.1:{port}"))
}

/// Serves `peer` on a free port; answers its base URL.
fn spawn(peer: impl peer_http::Peer) -> String {
    let (listener, url) = listener();
    tokio::spawn(peer_http::serve(listener, peer).expect("the peer serves"));
    url
}

async fn sale(url: &str, name: &str) -> Result<Report, FlashError> {
    let api = Api::new(url, "any secret: peers do not verify tokens", "");
    let config = FlashConfig {
        name: name.to_owned(),
        clients: 8,
        stock: STOCK,
        buyers: BUYERS,
        replays: REPLAYS,
        second_order_every: 4,
        run_id: uuid::Uuid::new_v4().simple().to_string(),
        done: std::sync::Arc::default(),
    };
    let report = flash::run(&api, &config).await;
    // the progress counter saw every buyer
    if report.is_ok() {
        assert_eq!(
            config.done.load(std::sync::atomic::Ordering::Relaxed),
            BUYERS as u64
        );
    }
    report
}

fn assert_sold_exactly_the_stock(report: &Report) {
    let extra = |key: &str| report.extra.get(key).copied().unwrap_or(-1.0);
    assert_eq!(extra("reservations"), f64::from(STOCK), "{report:#?}");
    assert_eq!(report.operations, u64::from(STOCK), "{report:#?}");
    assert_eq!(extra("oversold"), 0.0, "{report:#?}");
    assert_eq!(extra("over_limit"), 0.0, "{report:#?}");
    assert_eq!(extra("campaign_remaining"), 0.0, "{report:#?}");
    assert_eq!(
        extra("campaign_taken_minus_reservations"),
        0.0,
        "{report:#?}"
    );
    // every replay of a placed order answers that order, never a second one
    assert_eq!(
        extra("replays_200"),
        f64::from(STOCK) * REPLAYS as f64,
        "{report:#?}"
    );
    assert!(!report.extra.contains_key("replays_201"), "{report:#?}");
    // buyer 0 is among the first served and tries a second order, which the limit refuses
    assert!(extra("first_limit_reached") >= 1.0, "{report:#?}");
    assert!(extra("first_sold_out") > 0.0, "{report:#?}");
    assert!(report.errors.is_empty(), "{report:#?}");
    assert!(extra("reservations_per_s") > 0.0, "{report:#?}");
    assert!(extra("placement_p99_ms") > 0.0, "{report:#?}");
}

#[tokio::test]
async fn the_redis_peer_sells_exactly_its_stock_once_per_buyer() {
    let prefix = format!("test-{}", uuid::Uuid::new_v4().simple());
    let peer = RedisPeer::connect(&redis_url(), &prefix)
        .await
        .expect("Redis answers (REDIS_URL, else 127.0.0.1:6379)");
    let url = spawn(peer.clone());
    let report = sale(&url, "redis-peer-flash-sale")
        .await
        .expect("the flash sale runs");
    peer.delete_keys().await.expect("the test's keys deleted");
    assert_eq!(report.scenario, "redis-peer-flash-sale");
    assert_sold_exactly_the_stock(&report);
}

#[sqlx::test(migrations = false)]
async fn the_crud_peer_sells_exactly_its_stock_once_per_buyer(pool: PgPool) {
    let peer = CrudPeer::new(pool.clone())
        .await
        .expect("the peer's tables");
    let url = spawn(peer);
    let report = sale(&url, "crud-peer-flash-sale")
        .await
        .expect("the flash sale runs");
    assert_sold_exactly_the_stock(&report);
    let (orders, buyers): (i64, i64) =
        sqlx::query_as("SELECT count(*), count(DISTINCT buyer_id) FROM orders")
            .fetch_one(&pool)
            .await
            .expect("the orders");
    assert_eq!((orders, buyers), (i64::from(STOCK), i64::from(STOCK)));
}

#[tokio::test]
async fn a_server_without_campaigns_fails_the_run_instead_of_measuring_nothing() {
    let (listener, url) = listener();
    let server = HttpServer::new(|| {
        // reads the body, so that the connection stays usable for the next request
        let created = |_: web::Bytes| async { HttpResponse::Created().finish() };
        App::new().route("/v1/products", web::post().to(created))
    })
    .workers(1)
    .listen(listener)
    .expect("listens")
    .run();
    tokio::spawn(server);
    let err = sale(&url, "flash-sale")
        .await
        .expect_err("no campaign route");
    assert!(matches!(err, FlashError::NoCampaigns(_)), "{err}");
    assert!(err.to_string().contains("no campaign route"), "{err}");
}
