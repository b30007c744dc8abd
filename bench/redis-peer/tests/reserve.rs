//! The Redis peer against the Redis at $REDIS_URL (else 127.0.0.1:6379), each test under a key
//! prefix of its own: the reservation script stops at zero, and concurrent buyers of a
//! campaign get exactly its stock, once per order id and within the limit.

use futures::future::join_all;
use peer_http::{NewCampaign, Peer, PeerError, Placed, Placement};
use redis_peer::RedisPeer;
use serde_json::json;

async fn peer() -> RedisPeer {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let prefix = format!("test-{}", uuid::Uuid::new_v4().simple());
    RedisPeer::connect(&url, &prefix)
        .await
        .expect("Redis answers (REDIS_URL, else 127.0.0.1:6379)")
}

fn placement(order_id: &str, campaign_id: &str) -> Placement {
    serde_json::from_value(json!({
        "order_id": order_id, "checkout_token": "t", "campaign_id": campaign_id,
        "items": [{ "sku": "tea", "quantity": 1, "product_version": 1 }],
    }))
    .expect("a placement body")
}

#[tokio::test]
async fn the_script_takes_what_is_left_and_answers_minus_one_at_zero() {
    let peer = peer().await;
    let campaign = NewCampaign {
        sku: "tea".to_owned(),
        price_cents: 100,
        stock: 2,
        limit_per_buyer: 1,
    };
    peer.create_campaign("c1", &campaign)
        .await
        .expect("the campaign");
    let stock = peer.key(&["campaign", "c1", "stock"]);
    assert_eq!(peer.reserve(&stock, 3).await.expect("the script"), -1);
    assert_eq!(peer.reserve(&stock, 1).await.expect("the script"), 1);
    assert_eq!(peer.reserve(&stock, 1).await.expect("the script"), 0);
    assert_eq!(peer.reserve(&stock, 1).await.expect("the script"), -1);
    let left = peer.campaign("c1").await.expect("the campaign").remaining;
    assert_eq!(left, 0, "a refused reservation took stock");
}

#[tokio::test]
async fn concurrent_buyers_get_exactly_the_stock_once_per_order_and_buyer() {
    let peer = peer().await;
    let campaign = NewCampaign {
        sku: "tea".to_owned(),
        price_cents: 250,
        stock: 10,
        limit_per_buyer: 1,
    };
    peer.create_campaign("c2", &campaign)
        .await
        .expect("the campaign");
    let attempts = (0..60).map(|buyer| {
        let peer = peer.clone();
        async move {
            let first = placement(&format!("o{buyer}"), "c2");
            let placed = peer.place(&format!("b{buyer}"), &first).await;
            let again = peer.place(&format!("b{buyer}"), &first).await;
            let second = placement(&format!("o{buyer}-second"), "c2");
            let second = peer.place(&format!("b{buyer}"), &second).await;
            (placed, again, second)
        }
    });
    let mut new = 0;
    for (placed, again, second) in join_all(attempts).await {
        match placed {
            Ok(Placed::New(order)) => {
                new += 1;
                assert_eq!(order.total_cents, 250);
                assert_eq!(again.expect("a replay"), Placed::Again(order));
                assert!(matches!(second, Err(PeerError::LimitReached)), "{second:?}");
            }
            Err(PeerError::SoldOut) => {
                assert!(matches!(again, Err(PeerError::SoldOut)), "{again:?}");
            }
            other => panic!("unexpected answer {other:?}"),
        }
    }
    assert_eq!(new, 10);
    assert_eq!(
        peer.campaign("c2").await.expect("the campaign").remaining,
        0
    );
}
