use domain::{
    CancelReason, ConfirmPayment, OrderCommand, OrderError, OrderEvent, OrderStatus,
    PaymentConfirmed,
};

use crate::fixtures::{at, money, order_id, txn};
use crate::order_fixtures::{
    TOTAL, cancel, cancelled, complete_refund, completed, confirm_receipt, given, paid,
    paid_after_close, pay, place, placed, refund_paid_after_close, refund_requested, replay,
    request_refund, ship, shipped, update_logistics,
};

#[test]
fn paying_the_total_confirms_the_payment() {
    given(vec![placed()])
        .when(pay("t-1", TOTAL))
        .then_expect_events(vec![paid()]);
    let order = replay(vec![placed(), paid()]);
    assert_eq!(order.status(), Some(OrderStatus::Paid));
    assert_eq!(order.paid_txn(), Some(&txn("t-1")));
    assert_eq!(order.payment().map(|p| p.amount), Some(money(TOTAL)));
}

#[test]
fn paying_a_different_amount_is_refused() {
    given(vec![placed()])
        .when(pay("t-1", TOTAL - 1))
        .then_expect_error(OrderError::AmountMismatch {
            expected: money(TOTAL),
            got: money(TOTAL - 1),
        });
}

#[test]
fn paying_after_the_deadline_but_before_the_cancellation_confirms_the_payment() {
    // The deadline is enforced by cancelling; until then, money that arrives is taken.
    given(vec![placed()])
        .when(OrderCommand::ConfirmPayment(ConfirmPayment {
            txn_id: txn("t-1"),
            amount: money(TOTAL),
            at: at(60),
        }))
        .then_expect_events(vec![OrderEvent::PaymentConfirmed(PaymentConfirmed {
            txn_id: txn("t-1"),
            amount: money(TOTAL),
            at: at(60),
        })]);
}

#[test]
fn paying_again_with_the_same_transaction_changes_nothing() {
    given(vec![placed(), paid()])
        .when(pay("t-1", TOTAL))
        .then_expect_events(vec![]);
    given(vec![placed(), paid(), shipped("SF1"), completed()])
        .when(pay("t-1", TOTAL))
        .then_expect_events(vec![]);
}

/// A second payment of a paid order is the buyer's money all the same: recorded, whatever
/// the amount, to be refunded like a payment after close.
#[test]
fn paying_a_paid_order_with_another_transaction_records_it_to_be_refunded() {
    given(vec![placed(), paid()])
        .when(pay("t-2", TOTAL))
        .then_expect_events(vec![paid_after_close("t-2", TOTAL)]);
    given(vec![placed(), paid(), shipped("SF1")])
        .when(pay("t-2", 5))
        .then_expect_events(vec![paid_after_close("t-2", 5)]);
    given(vec![placed(), paid(), paid_after_close("t-2", TOTAL)])
        .when(pay("t-2", TOTAL))
        .then_expect_events(vec![]);
}

#[test]
fn paying_a_cancelled_order_records_paid_after_close() {
    given(vec![placed(), cancelled(CancelReason::PaymentTimeout)])
        .when(pay("t-9", TOTAL))
        .then_expect_events(vec![paid_after_close("t-9", TOTAL)]);
}

#[test]
fn paying_a_cancelled_order_records_whatever_amount_arrived() {
    given(vec![placed(), cancelled(CancelReason::PaymentTimeout)])
        .when(pay("t-9", 5))
        .then_expect_events(vec![paid_after_close("t-9", 5)]);
}

#[test]
fn paying_a_cancelled_order_again_with_the_same_transaction_changes_nothing() {
    given(vec![
        placed(),
        cancelled(CancelReason::PaymentTimeout),
        paid_after_close("t-9", TOTAL),
    ])
    .when(pay("t-9", TOTAL))
    .then_expect_events(vec![]);
}

#[test]
fn a_payment_after_close_is_owed_to_the_buyer_and_leaves_the_order_cancelled() {
    let order = replay(vec![
        placed(),
        cancelled(CancelReason::PaymentTimeout),
        paid_after_close("t-9", TOTAL),
    ]);
    assert_eq!(order.status(), Some(OrderStatus::Cancelled));
    assert_eq!(order.payment(), None);
    assert_eq!(order.after_close_payments().len(), 1);
    assert_eq!(order.after_close_amount_owed(), money(TOTAL));
}

#[test]
fn cancelling_an_unpaid_order_records_the_reason() {
    for reason in [
        CancelReason::BuyerCancelled,
        CancelReason::PaymentTimeout,
        CancelReason::Risk,
    ] {
        given(vec![placed()])
            .when(cancel(reason))
            .then_expect_events(vec![cancelled(reason)]);
    }
    let order = replay(vec![placed(), cancelled(CancelReason::Risk)]);
    assert_eq!(order.status(), Some(OrderStatus::Cancelled));
    assert_eq!(order.cancel_reason(), Some(CancelReason::Risk));
}

#[test]
fn cancelling_a_cancelled_order_changes_nothing() {
    given(vec![placed(), cancelled(CancelReason::BuyerCancelled)])
        .when(cancel(CancelReason::PaymentTimeout))
        .then_expect_events(vec![]);
}

#[test]
fn cancelling_a_paid_order_is_refused_and_changes_nothing() {
    given(vec![placed(), paid()])
        .when(cancel(CancelReason::PaymentTimeout))
        .then_expect_error(OrderError::NotCancellable {
            status: OrderStatus::Paid,
        });
    given(vec![placed(), paid(), shipped("SF1")])
        .when(cancel(CancelReason::BuyerCancelled))
        .then_expect_error(OrderError::NotCancellable {
            status: OrderStatus::Shipped,
        });
    given(vec![placed(), paid(), shipped("SF1"), completed()])
        .when(cancel(CancelReason::Risk))
        .then_expect_error(OrderError::NotCancellable {
            status: OrderStatus::Completed,
        });
    given(vec![
        placed(),
        paid(),
        refund_requested("r-1", &[(1, 1, 486)]),
    ])
    .when(cancel(CancelReason::Risk))
    .then_expect_error(OrderError::NotCancellable {
        status: OrderStatus::Refunding,
    });
}

#[test]
fn commands_on_an_order_that_does_not_exist_are_refused() {
    let commands = vec![
        pay("t-1", TOTAL),
        cancel(CancelReason::BuyerCancelled),
        update_logistics("SF1"),
        ship(Some("SF1")),
        confirm_receipt(),
        request_refund("r-1", &[(0, 1)]),
        refund_paid_after_close("r-1", "t-1"),
        complete_refund("r-1"),
    ];
    for command in commands {
        given(vec![])
            .when(command)
            .then_expect_error(OrderError::NotFound);
    }
    // PlaceOrder is the one command that needs no order.
    assert_eq!(replay(vec![placed()]).order_id(), Some(order_id(1001)));
    given(vec![])
        .when(place())
        .then_expect_events(vec![placed()]);
}
