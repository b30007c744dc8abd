//! The order reactions on a batch of placements, on a SQLite store: carts are cleared once,
//! and a cart with nothing in it is never loaded on its own.

use shards::Stores;
use std::sync::Arc;

use chrono::Utc;
use domain::{
    BuyerId, Cart, CartEvent, CartItemAdded, Money, Order, OrderEvent, OrderId, OrderItem,
    OrderPlaced, ProductSnapshot, ProductTitle, Quantity, SellerId, SkuId,
};
use event_store::{Checkpoint, EventMetadata, EventStore, RecordedEvent};

use super::OrderReactions;
use super::runner::Reaction;
use super::runner_tests::store;

fn placed(order: u64, buyer: &str) -> OrderEvent {
    let price = Money::from_minor(250).unwrap();
    let sku = SkuId::parse("tea-500g").unwrap();
    let seller = SellerId::parse("shop-1").unwrap();
    let now = Utc::now();
    OrderEvent::OrderPlaced(OrderPlaced {
        order_id: OrderId::new(order).unwrap(),
        buyer: BuyerId::parse(buyer).unwrap(),
        seller: seller.clone(),
        items: vec![OrderItem {
            line: 0,
            sku: sku.clone(),
            quantity: Quantity::new(1).unwrap(),
            snapshot: ProductSnapshot {
                sku,
                seller,
                title: ProductTitle::parse("Tea").unwrap(),
                unit_price: price,
                version: 1,
            },
            list_total: price,
            discount: Money::zero(),
            paid_amount: price,
        }],
        list_total: price,
        discount: Money::zero(),
        total: price,
        placed_at: now,
        payment_due_at: now + chrono::Duration::minutes(15),
        campaign: None,
    })
}

async fn fill_cart(store: &EventStore, buyer: &str) {
    let added = CartEvent::CartItemAdded(CartItemAdded {
        sku: SkuId::parse("tea-500g").unwrap(),
        quantity: Quantity::new(2).unwrap(),
        at: Utc::now(),
    });
    store
        .append::<Cart>(buyer, 0, &[added], &EventMetadata::default())
        .await
        .unwrap();
}

/// Places one order per `(order, buyer)` and answers with the log's order events.
async fn place(store: &EventStore, orders: &[(u64, &str)]) -> Vec<Arc<RecordedEvent>> {
    for (order, buyer) in orders {
        let id = OrderId::new(*order).unwrap().to_string();
        store
            .append::<Order>(&id, 0, &[placed(*order, buyer)], &EventMetadata::default())
            .await
            .unwrap();
    }
    let log = store.read_after(Checkpoint::START, 1_000).await.unwrap();
    log.into_iter()
        .filter(|e| e.aggregate_type == "Order")
        .map(Arc::new)
        .collect()
}

async fn cart_events(store: &EventStore, buyer: &str) -> Vec<String> {
    let stream = store.read_stream("Cart", buyer).await.unwrap();
    stream.into_iter().map(|e| e.event_type).collect()
}

/// A batch of placements clears each cart that holds items once, whichever of the buyer's
/// orders comes first, and leaves the others alone; a cart that the batch's one read of its
/// buyers' carts found empty is not loaded again for its order.
#[tokio::test]
async fn a_batch_clears_the_carts_that_hold_items_and_reads_no_empty_one_alone() {
    let (store, _dir) = store().await;
    fill_cart(&store, "b-1").await;
    fill_cart(&store, "b-3").await;
    let batch = place(
        &store,
        &[
            (11, "b-1"),
            (12, "b-2"),
            (13, "b-1"),
            (14, "b-3"),
            (15, "b-4"),
        ],
    )
    .await;
    let reactions = OrderReactions::new(Stores::one(store.clone()));

    reactions.react_batch(&batch).await.unwrap();

    assert_eq!(
        cart_events(&store, "b-1").await,
        ["CartItemAdded", "CartCleared"]
    );
    assert_eq!(
        cart_events(&store, "b-3").await,
        ["CartItemAdded", "CartCleared"]
    );
    for empty in ["b-2", "b-4"] {
        assert!(cart_events(&store, empty).await.is_empty());
        assert!(
            store.kept::<Cart>(empty).is_none(),
            "{empty}'s empty cart was loaded for its order"
        );
    }

    // the batch again (a retry after a failure) changes nothing
    reactions.react_batch(&batch).await.unwrap();
    assert_eq!(cart_events(&store, "b-1").await.len(), 2);
    assert_eq!(cart_events(&store, "b-3").await.len(), 2);
}
