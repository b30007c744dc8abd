use domain::{CancelReason, OrderError, OrderStatus};

use crate::fixtures::tracking;
use crate::order_fixtures::{
    cancelled, completed, confirm_receipt, given, logistics_updated, paid, placed,
    refund_requested, replay, ship, shipped, update_logistics,
};

#[test]
fn updating_logistics_of_a_paid_order_records_the_tracking_number() {
    given(vec![placed(), paid()])
        .when(update_logistics("SF1"))
        .then_expect_events(vec![logistics_updated("SF1")]);
    let order = replay(vec![placed(), paid(), logistics_updated("SF1")]);
    assert_eq!(order.tracking_number(), Some(&tracking("SF1")));
    assert_eq!(order.status(), Some(OrderStatus::Paid));
}

#[test]
fn updating_logistics_of_a_shipped_order_records_the_new_number() {
    given(vec![placed(), paid(), shipped("SF1")])
        .when(update_logistics("SF2"))
        .then_expect_events(vec![logistics_updated("SF2")]);
}

#[test]
fn updating_logistics_with_the_current_number_changes_nothing() {
    given(vec![placed(), paid(), logistics_updated("SF1")])
        .when(update_logistics("SF1"))
        .then_expect_events(vec![]);
    given(vec![placed(), paid(), shipped("SF1")])
        .when(update_logistics("SF1"))
        .then_expect_events(vec![]);
}

#[test]
fn updating_logistics_of_an_order_not_paid_or_shipped_is_refused() {
    let histories = [
        (vec![placed()], OrderStatus::PendingPayment),
        (
            vec![placed(), cancelled(CancelReason::Risk)],
            OrderStatus::Cancelled,
        ),
        (
            vec![placed(), paid(), shipped("SF1"), completed()],
            OrderStatus::Completed,
        ),
    ];
    for (history, status) in histories {
        given(history)
            .when(update_logistics("SF1"))
            .then_expect_error(OrderError::WrongStatus {
                command: "UpdateLogistics",
                status,
            });
    }
}

#[test]
fn shipping_a_paid_order_records_its_tracking_number() {
    given(vec![placed(), paid()])
        .when(ship(Some("SF1")))
        .then_expect_events(vec![shipped("SF1")]);
    let order = replay(vec![placed(), paid(), shipped("SF1")]);
    assert_eq!(order.status(), Some(OrderStatus::Shipped));
    assert_eq!(order.tracking_number(), Some(&tracking("SF1")));
}

#[test]
fn shipping_without_a_number_uses_the_one_set_before() {
    given(vec![placed(), paid(), logistics_updated("SF1")])
        .when(ship(None))
        .then_expect_events(vec![shipped("SF1")]);
}

#[test]
fn shipping_with_a_new_number_replaces_the_one_set_before() {
    given(vec![placed(), paid(), logistics_updated("SF1")])
        .when(ship(Some("SF2")))
        .then_expect_events(vec![shipped("SF2")]);
}

#[test]
fn shipping_without_any_tracking_number_is_refused() {
    given(vec![placed(), paid()])
        .when(ship(None))
        .then_expect_error(OrderError::MissingTrackingNumber);
}

#[test]
fn shipping_an_unpaid_order_is_refused() {
    given(vec![placed()])
        .when(ship(Some("SF1")))
        .then_expect_error(OrderError::WrongStatus {
            command: "ShipOrder",
            status: OrderStatus::PendingPayment,
        });
    given(vec![placed(), cancelled(CancelReason::BuyerCancelled)])
        .when(ship(Some("SF1")))
        .then_expect_error(OrderError::WrongStatus {
            command: "ShipOrder",
            status: OrderStatus::Cancelled,
        });
}

#[test]
fn shipping_a_shipped_order_again_changes_nothing() {
    given(vec![placed(), paid(), shipped("SF1")])
        .when(ship(Some("SF1")))
        .then_expect_events(vec![]);
    given(vec![placed(), paid(), shipped("SF1")])
        .when(ship(None))
        .then_expect_events(vec![]);
}

#[test]
fn shipping_a_shipped_order_with_another_number_is_refused() {
    given(vec![placed(), paid(), shipped("SF1")])
        .when(ship(Some("SF2")))
        .then_expect_error(OrderError::WrongStatus {
            command: "ShipOrder",
            status: OrderStatus::Shipped,
        });
}

#[test]
fn shipping_while_a_refund_is_open_is_refused() {
    given(vec![
        placed(),
        paid(),
        refund_requested("r-1", &[(1, 1, 486)]),
    ])
    .when(ship(Some("SF1")))
    .then_expect_error(OrderError::WrongStatus {
        command: "ShipOrder",
        status: OrderStatus::Refunding,
    });
}

#[test]
fn confirming_receipt_of_a_shipped_order_completes_it() {
    given(vec![placed(), paid(), shipped("SF1")])
        .when(confirm_receipt())
        .then_expect_events(vec![completed()]);
    let order = replay(vec![placed(), paid(), shipped("SF1"), completed()]);
    assert_eq!(order.status(), Some(OrderStatus::Completed));
}

#[test]
fn confirming_receipt_of_a_completed_order_changes_nothing() {
    given(vec![placed(), paid(), shipped("SF1"), completed()])
        .when(confirm_receipt())
        .then_expect_events(vec![]);
}

#[test]
fn confirming_receipt_of_an_order_not_shipped_is_refused() {
    given(vec![placed(), paid()])
        .when(confirm_receipt())
        .then_expect_error(OrderError::WrongStatus {
            command: "ConfirmReceipt",
            status: OrderStatus::Paid,
        });
    given(vec![placed()])
        .when(confirm_receipt())
        .then_expect_error(OrderError::WrongStatus {
            command: "ConfirmReceipt",
            status: OrderStatus::PendingPayment,
        });
}
