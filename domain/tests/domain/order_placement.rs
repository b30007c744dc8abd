use domain::{
    AbandonPlacement, ItemRequest, ORDER_ITEMS_MAX, OrderCommand, OrderError, OrderEvent,
    OrderStatus, PlaceOrder, PlacementRejected, RejectPlacement, RejectionReason,
};

use crate::fixtures::{at, buyer, money, order_id, qty, seller, sku, snapshot};
use crate::order_fixtures::{TOTAL, given, item_requests, place, place_order, placed, replay};

fn place_with(change: impl FnOnce(&mut PlaceOrder)) -> OrderCommand {
    let mut command = place_order(item_requests(), 100);
    change(&mut command);
    OrderCommand::PlaceOrder(command)
}

#[test]
fn placing_an_order_records_each_item_with_its_share_of_the_discount() {
    given(vec![])
        .when(place())
        .then_expect_events(vec![placed()]);
}

#[test]
fn placing_an_order_without_a_discount_charges_the_list_total() {
    let events = given(vec![])
        .when(OrderCommand::PlaceOrder(place_order(item_requests(), 0)))
        .inspect_result()
        .unwrap();
    let [OrderEvent::OrderPlaced(placed)] = events.as_slice() else {
        panic!("expected one OrderPlaced, got {events:?}");
    };
    assert_eq!(placed.total, money(3500));
    assert!(
        placed
            .items
            .iter()
            .all(|item| item.paid_amount == item.list_total)
    );
}

#[test]
fn a_discount_of_the_whole_list_total_makes_the_order_free() {
    let events = given(vec![])
        .when(OrderCommand::PlaceOrder(place_order(item_requests(), 3500)))
        .inspect_result()
        .unwrap();
    let [OrderEvent::OrderPlaced(placed)] = events.as_slice() else {
        panic!("expected one OrderPlaced, got {events:?}");
    };
    assert_eq!(placed.total, money(0));
    assert_eq!(placed.items[0].discount, money(3000));
    assert_eq!(placed.items[1].discount, money(500));
}

#[test]
fn a_placed_order_awaits_payment_until_its_deadline() {
    let order = replay(vec![placed()]);
    assert!(order.exists());
    assert_eq!(order.status(), Some(OrderStatus::PendingPayment));
    assert_eq!(order.buyer(), Some(&buyer("b-1")));
    assert_eq!(order.seller(), Some(&seller("s-1")));
    assert_eq!(order.items().len(), 2);
    assert_eq!(order.list_total(), Some(money(3500)));
    assert_eq!(order.discount(), Some(money(100)));
    assert_eq!(order.total(), Some(money(TOTAL)));
    assert_eq!(order.placed_at(), Some(at(0)));
    assert_eq!(order.payment_due_at(), Some(at(15)));
    assert_eq!(order.payment(), None);
    assert_eq!(order.refunded_amount(), money(0));
}

#[test]
fn an_order_that_was_never_placed_has_no_state() {
    let order = replay(vec![]);
    assert!(!order.exists());
    assert_eq!(order.status(), None);
    assert_eq!(order.total(), None);
    assert!(order.items().is_empty());
}

#[test]
fn placing_an_order_without_items_is_refused() {
    given(vec![])
        .when(OrderCommand::PlaceOrder(place_order(vec![], 0)))
        .then_expect_error(OrderError::NoItems);
}

#[test]
fn placing_an_order_with_too_many_items_is_refused() {
    let items = (0..=ORDER_ITEMS_MAX)
        .map(|i| ItemRequest {
            quantity: qty(1),
            snapshot: snapshot(&format!("sku-{i}"), 100),
        })
        .collect();
    given(vec![])
        .when(OrderCommand::PlaceOrder(place_order(items, 0)))
        .then_expect_error(OrderError::TooManyItems {
            max: ORDER_ITEMS_MAX,
            got: ORDER_ITEMS_MAX + 1,
        });
}

#[test]
fn placing_an_order_with_an_item_of_another_seller_is_refused() {
    let mut items = item_requests();
    items[1].snapshot.seller = seller("s-2");
    given(vec![])
        .when(OrderCommand::PlaceOrder(place_order(items, 0)))
        .then_expect_error(OrderError::SellerMismatch { sku: sku("cup") });
}

#[test]
fn placing_an_order_with_the_same_sku_twice_is_refused() {
    let mut items = item_requests();
    items.push(ItemRequest {
        quantity: qty(2),
        snapshot: snapshot("tea", 1000),
    });
    given(vec![])
        .when(OrderCommand::PlaceOrder(place_order(items, 0)))
        .then_expect_error(OrderError::DuplicateSku { sku: sku("tea") });
}

#[test]
fn placing_an_order_with_a_discount_above_its_list_total_is_refused() {
    given(vec![])
        .when(OrderCommand::PlaceOrder(place_order(item_requests(), 3501)))
        .then_expect_error(OrderError::DiscountExceedsListTotal {
            discount: money(3501),
            list_total: money(3500),
        });
}

#[test]
fn placing_an_order_whose_amounts_overflow_is_refused() {
    let line_overflow = vec![ItemRequest {
        quantity: qty(3),
        snapshot: snapshot("tea", i64::MAX / 2),
    }];
    given(vec![])
        .when(OrderCommand::PlaceOrder(place_order(line_overflow, 0)))
        .then_expect_error(OrderError::Overflow);
    let total_overflow = vec![
        ItemRequest {
            quantity: qty(1),
            snapshot: snapshot("tea", i64::MAX),
        },
        ItemRequest {
            quantity: qty(1),
            snapshot: snapshot("cup", 1),
        },
    ];
    given(vec![])
        .when(OrderCommand::PlaceOrder(place_order(total_overflow, 0)))
        .then_expect_error(OrderError::Overflow);
}

#[test]
fn placing_an_order_due_before_it_is_placed_is_refused() {
    given(vec![])
        .when(place_with(|c| c.payment_due_at = c.placed_at))
        .then_expect_error(OrderError::PaymentDueNotAfterPlacement);
}

#[test]
fn placing_the_same_order_again_changes_nothing() {
    given(vec![placed()])
        .when(place())
        .then_expect_events(vec![]);
}

#[test]
fn a_retried_placement_with_its_own_clock_is_still_the_same_order() {
    given(vec![placed()])
        .when(place_with(|c| {
            c.placed_at = at(1);
            c.payment_due_at = at(16);
        }))
        .then_expect_events(vec![]);
}

#[test]
fn placing_the_same_order_again_changes_nothing_after_it_moved_on() {
    use crate::order_fixtures::{cancelled, paid};
    given(vec![placed(), paid()])
        .when(place())
        .then_expect_events(vec![]);
    given(vec![placed(), cancelled(domain::CancelReason::Risk)])
        .when(place())
        .then_expect_events(vec![]);
}

type Change = Box<dyn FnOnce(&mut PlaceOrder)>;

#[test]
fn placing_an_existing_order_with_different_content_is_refused() {
    let changes: Vec<Change> = vec![
        Box::new(|c| c.buyer = buyer("b-2")),
        Box::new(|c| c.discount = money(99)),
        Box::new(|c| c.items[0].quantity = qty(2)),
        Box::new(|c| c.items[1].snapshot.version = 2),
        Box::new(|c| c.items.reverse()),
        Box::new(|c| {
            c.items.pop();
        }),
    ];
    for change in changes {
        given(vec![placed()])
            .when(place_with(change))
            .then_expect_error(OrderError::AlreadyPlacedWithDifferentContent);
    }
}

fn reject() -> OrderCommand {
    OrderCommand::RejectPlacement(RejectPlacement {
        order_id: order_id(1001),
        buyer: buyer("b-1"),
        reason: RejectionReason::OutOfStock { sku: sku("tea") },
        at: at(0),
    })
}

fn rejected() -> OrderEvent {
    OrderEvent::PlacementRejected(PlacementRejected {
        order_id: order_id(1001),
        buyer: Some(buyer("b-1")),
        reason: RejectionReason::OutOfStock { sku: sku("tea") },
        at: at(0),
    })
}

#[test]
fn a_failed_placement_claims_the_order_id_with_a_rejection() {
    given(vec![])
        .when(reject())
        .then_expect_events(vec![rejected()]);
}

#[test]
fn rejecting_a_rejected_placement_again_changes_nothing() {
    given(vec![rejected()])
        .when(reject())
        .then_expect_events(vec![]);
}

#[test]
fn a_placed_order_cannot_be_rejected() {
    given(vec![placed()])
        .when(reject())
        .then_expect_error(OrderError::AlreadyPlaced);
}

#[test]
fn placing_an_order_whose_placement_was_rejected_is_refused() {
    given(vec![rejected()])
        .when(place())
        .then_expect_error(OrderError::PlacementWasRejected);
}

#[test]
fn a_rejected_placement_is_not_an_order() {
    let order = replay(vec![rejected()]);
    assert!(!order.exists());
    assert_eq!(order.status(), None);
    assert!(order.rejection().is_some());
    given(vec![rejected()])
        .when(pay_for_rejected())
        .then_expect_error(OrderError::NotFound);
}

fn pay_for_rejected() -> OrderCommand {
    crate::order_fixtures::pay("t-1", TOTAL)
}

fn abandon() -> OrderCommand {
    OrderCommand::AbandonPlacement(AbandonPlacement {
        order_id: order_id(1001),
        at: at(0),
    })
}

#[test]
fn an_abandoned_placement_claims_the_order_id_without_a_buyer() {
    given(vec![])
        .when(abandon())
        .then_expect_events(vec![OrderEvent::PlacementRejected(PlacementRejected {
            order_id: order_id(1001),
            buyer: None,
            reason: RejectionReason::Abandoned,
            at: at(0),
        })]);
}

#[test]
fn abandoning_a_rejected_placement_changes_nothing() {
    given(vec![rejected()])
        .when(abandon())
        .then_expect_events(vec![]);
}

#[test]
fn a_placed_order_cannot_be_abandoned() {
    given(vec![placed()])
        .when(abandon())
        .then_expect_error(OrderError::AlreadyPlaced);
}

/// Rejections stored before the buyer became optional read back with their buyer, and a
/// rejection with a buyer is stored as it always was.
#[test]
fn a_rejection_keeps_its_stored_format() {
    let stored = r#"{"order_id":"1001","buyer":"b-1","reason":{"OutOfStock":{"sku":"tea"}},"at":"2026-01-01T00:00:00Z"}"#;
    let read: PlacementRejected = serde_json::from_str(stored).unwrap();
    assert_eq!(read.buyer, Some(buyer("b-1")));
    let written = serde_json::to_value(&read).unwrap();
    assert_eq!(written["buyer"], "b-1");
    let OrderEvent::PlacementRejected(abandoned) = (match replay(vec![]).decide(abandon()) {
        Ok(mut events) => events.remove(0),
        Err(err) => panic!("{err}"),
    }) else {
        panic!("not a rejection")
    };
    let written = serde_json::to_value(&abandoned).unwrap();
    assert!(written.get("buyer").is_none(), "{written}");
    assert_eq!(written["reason"], "Abandoned");
}
