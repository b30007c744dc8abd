//! Events and aggregate state are a stored contract: stable type names, a version per type
//! ("1.0" but for RefundRequested's "2.0"), and a JSON form that reads back to the same value.
//! `stored_formats` pins the exact forms by fixtures.

use cqrs_es::{Aggregate, DomainEvent};
use domain::{CancelReason, Cart, CartEvent, Order, Product, Sku, SkuEvent};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::fixtures::at;
use crate::order_fixtures::{
    after_close_refund_requested, cancelled, paid, paid_after_close, placed, refund_requested,
    replay, shipped,
};
use crate::stored_formats::{cart_samples, order_samples, product_samples, sku_samples};

fn round_trips<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(value: &T) {
    let json = serde_json::to_string(value).expect("serialises");
    let back: T = serde_json::from_str(&json).expect("deserialises");
    assert_eq!(&back, value, "{json}");
}

#[test]
fn aggregate_types_are_stable() {
    assert_eq!(Order::TYPE, "Order");
    assert_eq!(Sku::TYPE, "Sku");
    assert_eq!(Product::TYPE, "Product");
    assert_eq!(Cart::TYPE, "Cart");
}

#[test]
fn order_event_types_are_their_variant_names_at_their_own_versions() {
    let types: Vec<String> = order_samples()
        .iter()
        .map(DomainEvent::event_type)
        .collect();
    assert_eq!(
        types,
        [
            "OrderPlaced",
            "PlacementRejected",
            "PaymentConfirmed",
            "PaidAfterClose",
            "OrderCancelled",
            "LogisticsUpdated",
            "OrderShipped",
            "OrderCompleted",
            "RefundRequested",
            "RefundCompleted",
        ]
    );
    for event in order_samples() {
        // RefundRequested 2.0 renamed 1.0's `items` (ADR 31)
        let version = if event.event_type() == "RefundRequested" {
            "2.0"
        } else {
            "1.0"
        };
        assert_eq!(event.event_version(), version);
        // The JSON is tagged with the same name.
        let json = serde_json::to_value(&event).unwrap();
        assert!(json.get(event.event_type()).is_some(), "{json}");
        round_trips(&event);
    }
}

#[test]
fn an_order_id_in_an_event_is_a_decimal_string() {
    let json = serde_json::to_value(placed()).unwrap();
    assert_eq!(json["OrderPlaced"]["order_id"], "1001");
    assert_eq!(json["OrderPlaced"]["total"], 3400);
    assert_eq!(json["OrderPlaced"]["items"][0]["snapshot"]["version"], 1);
}

#[test]
fn other_event_types_are_their_variant_names_at_version_one() {
    let mut seen: Vec<(String, String)> = Vec::new();
    for event in &product_samples() {
        seen.push((event.event_type(), event.event_version()));
        round_trips(event);
    }
    for event in &sku_samples() {
        seen.push((event.event_type(), event.event_version()));
        round_trips(event);
    }
    for event in &cart_samples() {
        seen.push((event.event_type(), event.event_version()));
        round_trips(event);
    }
    let expected = [
        "ProductCreated",
        "PriceChanged",
        "SkuCreated",
        "StockAdded",
        "StockReserved",
        "StockReleased",
        "StockDeducted",
        "StockAllocated",
        "StockReturned",
        "CartItemAdded",
        "CartItemRemoved",
        "CartCleared",
    ];
    assert_eq!(
        seen,
        expected
            .iter()
            .map(|t| ((*t).to_owned(), "1.0".to_owned()))
            .collect::<Vec<_>>()
    );
}

#[test]
fn aggregate_state_reads_back_from_json() {
    round_trips(&replay(vec![
        placed(),
        paid(),
        shipped("SF1"),
        refund_requested("r-1", &[(0, 1, 971)]),
    ]));
    round_trips(&replay(vec![
        placed(),
        cancelled(CancelReason::PaymentTimeout),
        paid_after_close("t-9", 5),
        after_close_refund_requested("r-9", "t-9", 5),
    ]));
    round_trips(&Order::default());

    use crate::fixtures::{order_id, qty, seller, sku};
    let mut stock = Sku::default();
    stock.apply(SkuEvent::SkuCreated(domain::SkuCreated {
        sku: sku("tea"),
        seller: seller("s-1"),
        initial_stock: 5,
        at: at(0),
    }));
    stock.apply(SkuEvent::StockReserved(domain::StockReserved {
        order_id: order_id(9_007_199_254_740_993),
        quantity: qty(2),
        at: at(0),
    }));
    round_trips(&stock);

    let mut cart = Cart::default();
    cart.apply(CartEvent::CartItemAdded(domain::CartItemAdded {
        sku: sku("tea"),
        quantity: qty(1),
        at: at(0),
    }));
    cart.apply(CartEvent::CartCleared(domain::CartCleared {
        order_id: order_id(1),
        at: at(0),
    }));
    round_trips(&cart);
}
