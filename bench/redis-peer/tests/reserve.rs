//! The Redis peer against the Redis at $REDIS_URL (else 127.0.0.1:6379), each test under a key
//! prefix of its own: the reservation script stops at zero, and concurrent buyers of a
//! campaign get exactly its stock, once per order id and within the limit.

use peer_http::testing::campaign_rush;
use peer_http::{NewCampaign, Peer};
use redis_peer::RedisPeer;

async fn peer() -> RedisPeer {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let prefix = format!("test-{}", uuid::Uuid::new_v4().simple());
    RedisPeer::connect(&url, &prefix)
        .await
        .expect("Redis answers (REDIS_URL, else 127.0.0.1:6379)")
}

fn campaign(stock: u32) -> NewCampaign {
    NewCampaign {
        sku: "tea".to_owned(),
        price_cents: 250,
        stock,
        limit_per_buyer: 1,
    }
}

#[tokio::test]
async fn the_script_takes_what_is_left_and_answers_minus_one_at_zero() {
    let peer = peer().await;
    peer.create_campaign("c1", &campaign(2))
        .await
        .expect("the campaign");
    let stock = peer.key(&["campaign", "c1", "stock"]);
    assert_eq!(peer.reserve(&stock, 3).await.expect("the script"), -1);
    assert_eq!(peer.reserve(&stock, 1).await.expect("the script"), 1);
    assert_eq!(peer.reserve(&stock, 1).await.expect("the script"), 0);
    assert_eq!(peer.reserve(&stock, 1).await.expect("the script"), -1);
    let left = peer.campaign("c1").await.expect("the campaign").remaining;
    assert_eq!(left, 0, "a refused reservation took stock");
    assert_eq!(peer.delete_keys().await.expect("the keys deleted"), 5);
    assert!(peer.campaign("c1").await.is_err(), "a key is left");
}

#[tokio::test]
async fn concurrent_buyers_get_exactly_the_stock_once_per_order_and_buyer() {
    let peer = peer().await;
    peer.create_campaign("c2", &campaign(10))
        .await
        .expect("the campaign");
    let placed = campaign_rush(&peer, "c2", "tea", 250, 60)
        .await
        .expect("every answer by the rules");
    assert_eq!(placed, 10);
    assert_eq!(
        peer.campaign("c2").await.expect("the campaign").remaining,
        0
    );
    peer.delete_keys().await.expect("the test's keys deleted");
}
