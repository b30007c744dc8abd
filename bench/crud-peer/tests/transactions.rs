//! The CRUD peer on a fresh PostgreSQL database per test: concurrent buyers never take more
//! than the stock (the guarded `UPDATE` is the only thing between them), a replayed placement
//! answers the first order, and a payment sells what the order reserved, once.

use crud_peer::CrudPeer;
use peer_http::testing::{campaign_rush, placement};
use peer_http::{NewCampaign, NewProduct, Payment, Peer, PeerError, Placed};
use sqlx::PgPool;

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
    let placed = campaign_rush(&peer, "c1", "tea", 300, 50)
        .await
        .expect("every answer by the rules");
    assert_eq!(placed, 10);
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
