//! Stored formats are pinned by checked-in fixtures (ADR 31): every event type at its current
//! version, every older version the log may still hold, and the order state the read models
//! store. Each fixture is read with today's code and written back byte for byte.
//!
//! A fixture that is missing fails its test; `UPDATE_FIXTURES=1 cargo test -p domain` writes
//! the missing ones (never an existing one: a pinned format changes only through a new event
//! version and an upcaster, or, for a state, by deleting its fixture on purpose).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use chrono::Duration;
use cqrs_es::DomainEvent;
use cqrs_es::persist::SerializedEvent;
use domain::{
    CampaignId, CampaignStockMoved, CancelReason, CartCleared, CartEvent, CartItemAdded,
    CartItemRemoved, Order, OrderEvent, OrderSnapshot, PaymentConfirmed, PlacementRejected,
    PriceChanged, ProductCreated, ProductEvent, RejectionReason, SkuCreated, SkuEvent, StockAdded,
    StockDeducted, StockReleased, StockReserved,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::fixtures::{at, buyer, money, order_id, qty, seller, sku, title, txn};
use crate::order_fixtures::{
    after_close_refund_requested, cancelled, completed, logistics_updated, paid_after_close,
    placed, refund_completed, refund_requested, replay, shipped,
};

fn campaign(id: &str) -> CampaignId {
    CampaignId::parse(id).expect("a valid campaign id")
}

/// What the log stores of an event besides its stream and metadata: the `event_type` and
/// `event_version` columns and the `payload` column (the event enum, externally tagged).
#[derive(Debug, Serialize, Deserialize)]
struct Stored<P> {
    event_type: String,
    event_version: String,
    payload: P,
}

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The pretty-printed JSON of `value`, with a final newline. Pretty printing only adds
/// whitespace between the tokens serde_json writes compactly, so two values print the same
/// here exactly when the store's compact text of them is the same.
fn pretty(value: &impl Serialize) -> String {
    let mut text = serde_json::to_string_pretty(value).expect("serialises");
    text.push('\n');
    text
}

/// The fixture at `path`, checked against `written` (what today's code writes). A missing
/// fixture is written when `UPDATE_FIXTURES=1`, else it fails the test saying how to add it.
fn pinned(path: &Path, written: &str) -> String {
    let shown = path.strip_prefix(fixtures_dir()).unwrap_or(path).display();
    match std::fs::read_to_string(path) {
        Ok(text) => {
            assert_eq!(
                text, written,
                "the stored format of {shown} changed: stored data keeps the pinned form. \
                 Change an event through a new version and an upcaster (ADR 31); a state's \
                 fixture is replaced only by deleting it on purpose"
            );
            text
        }
        Err(_) if std::env::var_os("UPDATE_FIXTURES").is_some_and(|v| v == "1") => {
            std::fs::create_dir_all(path.parent().expect("a folder")).expect("creates folder");
            std::fs::write(path, written).expect("writes fixture");
            written.to_owned()
        }
        Err(err) => panic!(
            "no fixture {shown} ({err}): run `UPDATE_FIXTURES=1 cargo test -p domain --test \
             domain stored_formats`, review the new file and commit it"
        ),
    }
}

/// `T` read from `text` with today's code, and written back byte for byte.
fn reads_and_writes_back<T: Serialize + DeserializeOwned>(text: &str, what: &str) -> T {
    let read: T = serde_json::from_str(text).unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_eq!(
        pretty(&read),
        text,
        "{what} does not write back as it was read"
    );
    read
}

fn event_path(aggregate: &str, event_type: &str, event_version: &str) -> PathBuf {
    fixtures_dir()
        .join("events")
        .join(aggregate)
        .join(format!("{event_type}.v{event_version}.json"))
}

/// Checks the fixture of each sample: today's code writes it, reads it back as the sample and
/// writes that back byte for byte. Answers the `(type, version)` pairs checked.
fn check_events<E>(aggregate: &str, samples: &[E]) -> BTreeSet<(String, String)>
where
    E: DomainEvent + PartialEq,
{
    let mut current = BTreeSet::new();
    for sample in samples {
        let (event_type, event_version) = (sample.event_type(), sample.event_version());
        let stored = Stored {
            event_type: event_type.clone(),
            event_version: event_version.clone(),
            payload: sample,
        };
        let path = event_path(aggregate, &event_type, &event_version);
        let text = pinned(&path, &pretty(&stored));
        let read: Stored<E> = reads_and_writes_back(&text, &format!("{}", path.display()));
        assert_eq!(&read.payload, sample, "{}", path.display());
        assert_eq!(
            (read.payload.event_type(), read.payload.event_version()),
            (read.event_type, read.event_version),
            "{}",
            path.display()
        );
        assert!(
            current.insert((event_type.clone(), event_version)),
            "two samples of {aggregate} {event_type}"
        );
    }
    current
}

/// Runs a stored event through the domain's upcasters as the event store does: each in
/// order, on what the ones before it made.
fn upcast(stored: Stored<Value>) -> Stored<Value> {
    let event = domain::upcasters().iter().fold(
        SerializedEvent::new(
            String::new(),
            0,
            String::new(),
            stored.event_type,
            stored.event_version,
            stored.payload,
            Value::Null,
        ),
        |event, upcaster| {
            if upcaster.can_upcast(&event.event_type, &event.event_version) {
                upcaster.upcast(event)
            } else {
                event
            }
        },
    );
    Stored {
        event_type: event.event_type,
        event_version: event.event_version,
        payload: event.payload,
    }
}

/// Every fixture of `aggregate` that is not at a current version is an older version the log
/// may still hold: it reads as today's event once upcast. Answers how many there were.
fn check_older_events<E: DomainEvent>(
    aggregate: &str,
    current: &BTreeSet<(String, String)>,
) -> usize {
    let dir = fixtures_dir().join("events").join(aggregate);
    let mut older = 0;
    for entry in std::fs::read_dir(&dir).expect("reads fixture folder") {
        let path = entry.expect("reads fixture folder").path();
        let text = std::fs::read_to_string(&path).expect("reads fixture");
        // as JSON only: today's code writes no older version, and reorders keys in a `Value`
        let stored: Stored<Value> = serde_json::from_str(&text).expect("reads fixture");
        let name = (stored.event_type.clone(), stored.event_version.clone());
        assert_eq!(
            path,
            event_path(aggregate, &name.0, &name.1),
            "a fixture is named for its type and version"
        );
        if current.contains(&name) {
            continue;
        }
        older += 1;
        let upcast = upcast(stored);
        assert!(
            current.contains(&(upcast.event_type.clone(), upcast.event_version.clone())),
            "{}: no upcaster brings {name:?} to today's version (at {:?} after upcasting)",
            path.display(),
            upcast.event_version
        );
        let event: E = serde_json::from_value(upcast.payload)
            .unwrap_or_else(|e| panic!("{}: upcast, it does not read: {e}", path.display()));
        assert_eq!(event.event_type(), upcast.event_type);
        assert_eq!(event.event_version(), upcast.event_version);
    }
    older
}

/// Asserts that `slots` names every index below `count` once: a sample of every variant.
fn covers_every_variant(aggregate: &str, slots: impl Iterator<Item = usize>, count: usize) {
    let slots: Vec<usize> = slots.collect();
    assert_eq!(
        slots,
        (0..count).collect::<Vec<_>>(),
        "{aggregate}: the samples must hold one event of each variant, in declaration order"
    );
}

/// A time with a fraction, so that the fixtures pin how fractions are written.
fn at_with_fraction(minute: i64) -> chrono::DateTime<chrono::Utc> {
    at(minute) + Duration::milliseconds(250)
}

/// One event of each variant, in declaration order.
pub(crate) fn order_samples() -> Vec<OrderEvent> {
    vec![
        placed(),
        OrderEvent::PlacementRejected(PlacementRejected {
            order_id: order_id(1002),
            buyer: Some(buyer("b-1")),
            reason: RejectionReason::OutOfStock { sku: sku("tea") },
            at: at(0),
        }),
        OrderEvent::PaymentConfirmed(PaymentConfirmed {
            txn_id: txn("t-1"),
            amount: money(crate::order_fixtures::TOTAL),
            at: at_with_fraction(5),
        }),
        paid_after_close("t-9", 1),
        cancelled(CancelReason::Risk),
        logistics_updated("SF1"),
        shipped("SF1"),
        completed(),
        refund_requested("r-1", &[(0, 1, 971)]),
        refund_completed("r-1", 971),
    ]
}

/// The variant's place in declaration order. Exhaustive: a new variant does not compile until
/// it has a place here, and then the test asks for its sample and its fixture.
fn order_slot(event: &OrderEvent) -> usize {
    match event {
        OrderEvent::OrderPlaced(_) => 0,
        OrderEvent::PlacementRejected(_) => 1,
        OrderEvent::PaymentConfirmed(_) => 2,
        OrderEvent::PaidAfterClose(_) => 3,
        OrderEvent::OrderCancelled(_) => 4,
        OrderEvent::LogisticsUpdated(_) => 5,
        OrderEvent::OrderShipped(_) => 6,
        OrderEvent::OrderCompleted(_) => 7,
        OrderEvent::RefundRequested(_) => 8,
        OrderEvent::RefundCompleted(_) => 9,
    }
}
const ORDER_VARIANTS: usize = 10;

/// One event of each variant, in declaration order.
pub(crate) fn sku_samples() -> Vec<SkuEvent> {
    vec![
        SkuEvent::SkuCreated(SkuCreated {
            sku: sku("tea"),
            seller: seller("s-1"),
            initial_stock: 1,
            at: at(0),
        }),
        SkuEvent::StockAdded(StockAdded {
            quantity: 1,
            at: at(0),
        }),
        SkuEvent::StockReserved(StockReserved {
            // past 2^53: JavaScript would round it, so it must stay a string
            order_id: order_id(9_007_199_254_740_993),
            quantity: qty(1),
            at: at(0),
        }),
        SkuEvent::StockReleased(StockReleased {
            order_id: order_id(1),
            quantity: qty(1),
            at: at(0),
        }),
        SkuEvent::StockDeducted(StockDeducted {
            order_id: order_id(1),
            quantity: qty(1),
            at: at(0),
        }),
        SkuEvent::StockAllocated(CampaignStockMoved {
            campaign_id: campaign("c-1"),
            quantity: 100,
            at: at(0),
        }),
        SkuEvent::StockReturned(CampaignStockMoved {
            campaign_id: campaign("c-1"),
            quantity: 40,
            at: at(0),
        }),
    ]
}

fn sku_slot(event: &SkuEvent) -> usize {
    match event {
        SkuEvent::SkuCreated(_) => 0,
        SkuEvent::StockAdded(_) => 1,
        SkuEvent::StockReserved(_) => 2,
        SkuEvent::StockReleased(_) => 3,
        SkuEvent::StockDeducted(_) => 4,
        SkuEvent::StockAllocated(_) => 5,
        SkuEvent::StockReturned(_) => 6,
    }
}
const SKU_VARIANTS: usize = 7;

/// One event of each variant, in declaration order.
pub(crate) fn product_samples() -> Vec<ProductEvent> {
    vec![
        ProductEvent::ProductCreated(ProductCreated {
            sku: sku("tea"),
            seller: seller("s-1"),
            title: title("Tea \"Earl\" Grey 茶"),
            price: money(1),
            version: 1,
            at: at(0),
        }),
        ProductEvent::PriceChanged(PriceChanged {
            price: money(2),
            version: 2,
            at: at(1),
        }),
    ]
}

fn product_slot(event: &ProductEvent) -> usize {
    match event {
        ProductEvent::ProductCreated(_) => 0,
        ProductEvent::PriceChanged(_) => 1,
    }
}
const PRODUCT_VARIANTS: usize = 2;

/// One event of each variant, in declaration order.
pub(crate) fn cart_samples() -> Vec<CartEvent> {
    vec![
        CartEvent::CartItemAdded(CartItemAdded {
            sku: sku("tea"),
            quantity: qty(1),
            at: at_with_fraction(0),
        }),
        CartEvent::CartItemRemoved(CartItemRemoved {
            sku: sku("tea"),
            at: at(0),
        }),
        CartEvent::CartCleared(CartCleared {
            order_id: order_id(1),
            at: at(0),
        }),
    ]
}

fn cart_slot(event: &CartEvent) -> usize {
    match event {
        CartEvent::CartItemAdded(_) => 0,
        CartEvent::CartItemRemoved(_) => 1,
        CartEvent::CartCleared(_) => 2,
    }
}
const CART_VARIANTS: usize = 3;

#[test]
fn every_event_type_is_pinned_by_a_fixture_that_reads_and_writes_back_byte_for_byte() {
    covers_every_variant(
        "Order",
        order_samples().iter().map(order_slot),
        ORDER_VARIANTS,
    );
    covers_every_variant("Sku", sku_samples().iter().map(sku_slot), SKU_VARIANTS);
    covers_every_variant(
        "Product",
        product_samples().iter().map(product_slot),
        PRODUCT_VARIANTS,
    );
    covers_every_variant("Cart", cart_samples().iter().map(cart_slot), CART_VARIANTS);

    let mut types = BTreeSet::new();
    for current in [
        check_events("Order", &order_samples()),
        check_events("Sku", &sku_samples()),
        check_events("Product", &product_samples()),
        check_events("Cart", &cart_samples()),
    ] {
        for (event_type, _) in current {
            // upcasters are chosen by event type alone (the store does not tell them the
            // aggregate), so no two aggregates may share one
            assert!(types.insert(event_type.clone()), "{event_type} twice");
        }
    }
}

#[test]
fn every_older_event_version_in_the_fixtures_reads_as_todays_event_once_upcast() {
    check_older_events::<OrderEvent>("Order", &check_events("Order", &order_samples()));
    check_older_events::<SkuEvent>("Sku", &check_events("Sku", &sku_samples()));
    check_older_events::<ProductEvent>("Product", &check_events("Product", &product_samples()));
    check_older_events::<CartEvent>("Cart", &check_events("Cart", &cart_samples()));
}

/// The order snapshots the read models store (`order_detail.state`, `order_archive.state`),
/// between them with every field set.
fn stored_order_states() -> Vec<(&'static str, Order)> {
    vec![
        ("placed", replay(vec![placed()])),
        (
            "refunding_after_shipping",
            replay(vec![
                placed(),
                order_samples().swap_remove(2),
                logistics_updated("SF0"),
                shipped("SF1"),
                refund_requested("r-1", &[(0, 1, 971)]),
            ]),
        ),
        (
            "cancelled_with_a_payment_after_close_refunded",
            replay(vec![
                placed(),
                cancelled(CancelReason::PaymentTimeout),
                paid_after_close("t-9", 5),
                after_close_refund_requested("r-9", "t-9", 5),
                refund_completed("r-9", 5),
            ]),
        ),
    ]
}

#[test]
fn every_stored_order_snapshot_is_pinned_by_a_fixture_that_reads_and_writes_back_byte_for_byte() {
    for (name, order) in stored_order_states() {
        let path = fixtures_dir()
            .join("state/Order")
            .join(format!("{name}.json"));
        let snapshot = order.snapshot();
        let text = pinned(&path, &pretty(&snapshot));
        let read: OrderSnapshot = reads_and_writes_back(&text, &format!("{}", path.display()));
        assert_eq!(read, snapshot, "{}", path.display());
        assert_eq!(Order::from(read), order, "{}", path.display());
    }
}

/// The aggregate's own serde form (what cqrs-es's snapshots would store) is its snapshot's,
/// not its private fields'.
#[test]
fn the_order_aggregate_serialises_as_its_snapshot() {
    for (name, order) in stored_order_states() {
        assert_eq!(
            serde_json::to_value(&order).expect("serialises"),
            serde_json::to_value(order.snapshot()).expect("serialises"),
            "{name}"
        );
        let read: Order =
            serde_json::from_value(serde_json::to_value(order.snapshot()).unwrap()).expect("reads");
        assert_eq!(read, order, "{name}");
    }
}

/// Version 1.0 of `RefundRequested` named its refund lines `items` (the word `OrderPlaced`
/// uses for order lines, of another shape); 2.0 names them `lines`, as the order's refunds do.
/// Logs written before keep 1.0, read as 2.0.
#[test]
fn a_refund_requested_at_version_1_0_reads_as_version_2_0_with_its_items_as_lines() {
    let path = event_path("Order", "RefundRequested", "1.0");
    let text = std::fs::read_to_string(&path).expect("reads fixture");
    let old: Stored<Value> = serde_json::from_str(&text).expect("reads fixture");
    assert!(old.payload["RefundRequested"]["items"].is_array());

    let upcast = upcast(old);
    assert_eq!(
        (upcast.event_type.as_str(), upcast.event_version.as_str()),
        ("RefundRequested", "2.0")
    );
    let event: OrderEvent = serde_json::from_value(upcast.payload).expect("reads as today's");
    assert_eq!(event, refund_requested("r-1", &[(0, 1, 971)]));
    assert_eq!(event.event_version(), "2.0");
}
