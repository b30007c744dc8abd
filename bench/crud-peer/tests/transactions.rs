//! The CRUD peer on a fresh PostgreSQL database per test: concurrent buyers never take more
//! than the stock (the guarded `UPDATE` is the only thing between them), a replayed placement
//! answers the first order, and a payment sells what the order reserved, once.

use crud_peer::CrudPeer;
use futures::future::join_all;
use peer_http::{NewCampaign, NewProduct, Payment, Peer, PeerError, Placed, Placement};
use serde_json::json;
use sqlx::PgPool;

fn placement(order_id: &str, campaign_id: Option<&str>, items: &[(&str, u32)]) -> Placement {
    let items: Vec<_> = items
        .iter()
        .map(|(sku, qty)| json!({ "sku": sku, "quantity": qty, "product_version": 1 }))
        .collect();
    serde_json::from_value(json!({
        "order_id": order_id, "checkout_token": "t", "campaign_id": campaign_id, "items": items,
    }))
    .expect("a placement body")
}

async fn stock(pool: &PgPool, sku: &str) -> (i64, i64, i64) {
    sqlx::query_as("SELECT available, reserved, sold FROM stock WHERE sku = $1")
        .bind(sku)
        .fetch_one(pool)
        .await
        .expect("the stock row")
}

#[sqlx::test(migrations = false)]
async fn concurrent_buyers_never_take_more_than_the_stock(pool: PgPool) {
    let peer = CrudPeer::new(pool.clone()).await.expect("the tables");
    let campaign = NewCampaign {
        sku: "tea".to_owned(),
        price_cents: 300,
        stock: 10,
        limit_per_buyer: 1,
    };
    peer.create_campaign("c1", &campaign)
        .await
        .expect("the campaign");
    let attempts = (0..50).map(|buyer| {
        let peer = peer.clone();
        async move {
            let first = placement(&format!("o{buyer}"), Some("c1"), &[("tea", 1)]);
            let placed = peer.place(&format!("b{buyer}"), &first).await;
            let again = peer.place(&format!("b{buyer}"), &first).await;
            let second = placement(&format!("o{buyer}-2"), Some("c1"), &[("tea", 1)]);
            let second = peer.place(&format!("b{buyer}"), &second).await;
            (placed, again, second)
        }
    });
    let mut new = 0;
    for (placed, again, second) in join_all(attempts).await {
        match placed {
            Ok(Placed::New(order)) => {
                new += 1;
                assert_eq!(order.total_cents, 300);
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
    assert_eq!(stock(&pool, "c1").await, (0, 10, 0));
    assert_eq!(
        peer.campaign("c1").await.expect("the campaign").remaining,
        0
    );
}

#[sqlx::test(migrations = false)]
async fn a_payment_sells_what_its_order_reserved_once(pool: PgPool) {
    let peer = CrudPeer::new(pool.clone()).await.expect("the tables");
    for (sku, price) in [("a", 100), ("b", 250)] {
        let product = NewProduct {
            sku: sku.to_owned(),
            price_cents: price,
            initial_stock: 5,
        };
        peer.create_product(product).await.expect("the product");
    }
    let order = match peer
        .place("buyer", &placement("o1", None, &[("b", 1), ("a", 2)]))
        .await
    {
        Ok(Placed::New(order)) => order,
        other => panic!("not placed: {other:?}"),
    };
    assert_eq!(order.total_cents, 450);
    let refused = peer
        .place("buyer", &placement("o2", None, &[("a", 4)]))
        .await;
    assert!(
        matches!(refused, Err(PeerError::OutOfStock(_))),
        "{refused:?}"
    );
    let payment = |amount_cents| Payment {
        order_id: "o1".to_owned(),
        txn_id: "T1".to_owned(),
        amount_cents,
    };
    let wrong = peer.notify(&payment(449)).await;
    assert!(
        matches!(wrong, Err(PeerError::WrongAmount(450))),
        "{wrong:?}"
    );
    peer.notify(&payment(450)).await.expect("the payment");
    peer.notify(&payment(450))
        .await
        .expect("the same payment again");
    assert_eq!(stock(&pool, "a").await, (3, 0, 2));
    assert_eq!(stock(&pool, "b").await, (4, 0, 1));
}
