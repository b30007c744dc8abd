use cqrs_es::Aggregate;
use domain::{CancelReason, OrderError, OrderEvent, OrderStatus, RefundKind};
use proptest::prelude::*;

use crate::fixtures::{money, refund_id, txn};
use crate::order_fixtures::{
    TOTAL, after_close_refund_requested, cancelled, complete_refund, completed, given, paid,
    paid_after_close, placed, refund_completed, refund_paid_after_close, refund_requested, replay,
    request_refund, shipped,
};

#[test]
fn refunding_units_of_a_paid_order_returns_their_share_of_what_was_paid() {
    // Line 0: 3 units paid 2914 after discount, so one unit returns 2914 / 3 = 971.
    given(vec![placed(), paid()])
        .when(request_refund("r-1", &[(0, 1)]))
        .then_expect_events(vec![refund_requested("r-1", &[(0, 1, 971)])]);
}

#[test]
fn refunding_every_unit_returns_exactly_what_was_paid() {
    given(vec![placed(), paid()])
        .when(request_refund("r-1", &[(0, 3), (1, 1)]))
        .then_expect_events(vec![refund_requested("r-1", &[(0, 3, 2914), (1, 1, 486)])]);
}

#[test]
fn refunding_the_last_unit_returns_the_remaining_cents() {
    given(vec![
        placed(),
        paid(),
        refund_requested("r-1", &[(0, 2, 1942)]),
        refund_completed("r-1", 1942),
    ])
    .when(request_refund("r-2", &[(0, 1)]))
    .then_expect_events(vec![refund_requested("r-2", &[(0, 1, 972)])]);
}

#[test]
fn refunding_a_shipped_or_completed_order_is_allowed() {
    for history in [
        vec![placed(), paid(), shipped("SF1")],
        vec![placed(), paid(), shipped("SF1"), completed()],
    ] {
        given(history)
            .when(request_refund("r-1", &[(1, 1)]))
            .then_expect_events(vec![refund_requested("r-1", &[(1, 1, 486)])]);
    }
}

#[test]
fn another_refund_may_be_requested_while_one_is_open() {
    given(vec![
        placed(),
        paid(),
        refund_requested("r-1", &[(0, 1, 971)]),
    ])
    .when(request_refund("r-2", &[(0, 1), (1, 1)]))
    .then_expect_events(vec![refund_requested("r-2", &[(0, 1, 971), (1, 1, 486)])]);
}

#[test]
fn units_in_an_open_refund_cannot_be_refunded_again() {
    given(vec![
        placed(),
        paid(),
        refund_requested("r-1", &[(0, 3, 2914)]),
    ])
    .when(request_refund("r-2", &[(0, 1)]))
    .then_expect_error(OrderError::RefundExceedsQuantity {
        line: 0,
        remaining: 0,
        requested: 1,
    });
}

#[test]
fn refunding_more_units_than_are_left_is_refused() {
    given(vec![placed(), paid()])
        .when(request_refund("r-1", &[(0, 4)]))
        .then_expect_error(OrderError::RefundExceedsQuantity {
            line: 0,
            remaining: 3,
            requested: 4,
        });
    given(vec![
        placed(),
        paid(),
        refund_requested("r-1", &[(0, 2, 1942)]),
        refund_completed("r-1", 1942),
    ])
    .when(request_refund("r-2", &[(0, 2)]))
    .then_expect_error(OrderError::RefundExceedsQuantity {
        line: 0,
        remaining: 1,
        requested: 2,
    });
}

#[test]
fn refunding_an_unknown_line_is_refused() {
    given(vec![placed(), paid()])
        .when(request_refund("r-1", &[(2, 1)]))
        .then_expect_error(OrderError::UnknownLine { line: 2 });
}

#[test]
fn refunding_no_items_is_refused() {
    given(vec![placed(), paid()])
        .when(request_refund("r-1", &[]))
        .then_expect_error(OrderError::NoRefundItems);
}

#[test]
fn refunding_a_line_twice_in_one_refund_is_refused() {
    given(vec![placed(), paid()])
        .when(request_refund("r-1", &[(0, 1), (0, 1)]))
        .then_expect_error(OrderError::DuplicateRefundLine { line: 0 });
}

#[test]
fn requesting_the_same_refund_again_changes_nothing() {
    given(vec![
        placed(),
        paid(),
        refund_requested("r-1", &[(0, 1, 971)]),
    ])
    .when(request_refund("r-1", &[(0, 1)]))
    .then_expect_events(vec![]);
    given(vec![
        placed(),
        paid(),
        refund_requested("r-1", &[(0, 1, 971)]),
        refund_completed("r-1", 971),
    ])
    .when(request_refund("r-1", &[(0, 1)]))
    .then_expect_events(vec![]);
}

#[test]
fn reusing_a_refund_id_for_other_items_is_refused() {
    given(vec![
        placed(),
        paid(),
        refund_requested("r-1", &[(0, 1, 971)]),
    ])
    .when(request_refund("r-1", &[(0, 2)]))
    .then_expect_error(OrderError::RefundIdReused {
        refund_id: refund_id("r-1"),
    });
}

#[test]
fn refunding_an_order_that_was_not_paid_is_refused() {
    for (history, status) in [
        (vec![placed()], OrderStatus::PendingPayment),
        (
            vec![placed(), cancelled(CancelReason::Risk)],
            OrderStatus::Cancelled,
        ),
    ] {
        given(history)
            .when(request_refund("r-1", &[(0, 1)]))
            .then_expect_error(OrderError::WrongStatus {
                command: "RequestRefund",
                status,
            });
    }
}

#[test]
fn refunding_a_refunded_order_is_refused() {
    given(vec![
        placed(),
        paid(),
        refund_requested("r-1", &[(0, 3, 2914), (1, 1, 486)]),
        refund_completed("r-1", TOTAL),
    ])
    .when(request_refund("r-2", &[(0, 1)]))
    .then_expect_error(OrderError::WrongStatus {
        command: "RequestRefund",
        status: OrderStatus::Refunded,
    });
}

#[test]
fn an_open_refund_puts_the_order_in_refunding() {
    let order = replay(vec![
        placed(),
        paid(),
        shipped("SF1"),
        refund_requested("r-1", &[(1, 1, 486)]),
    ]);
    assert_eq!(order.status(), Some(OrderStatus::Refunding));
    assert_eq!(order.refunded_amount(), money(0));
    assert_eq!(order.refunds().len(), 1);
    assert!(order.refunds()[0].is_open());
    assert_eq!(order.refunds()[0].txn_id, txn("t-1"));
}

#[test]
fn completing_a_refund_records_the_amount_returned() {
    given(vec![
        placed(),
        paid(),
        refund_requested("r-1", &[(0, 1, 971)]),
    ])
    .when(complete_refund("r-1"))
    .then_expect_events(vec![refund_completed("r-1", 971)]);
}

#[test]
fn completing_a_refund_twice_changes_nothing() {
    given(vec![
        placed(),
        paid(),
        refund_requested("r-1", &[(0, 1, 971)]),
        refund_completed("r-1", 971),
    ])
    .when(complete_refund("r-1"))
    .then_expect_events(vec![]);
}

#[test]
fn completing_an_unknown_refund_is_refused() {
    given(vec![placed(), paid()])
        .when(complete_refund("r-404"))
        .then_expect_error(OrderError::UnknownRefund {
            refund_id: refund_id("r-404"),
        });
}

#[test]
fn completing_a_partial_refund_returns_the_order_to_its_previous_status() {
    for (history, before) in [
        (vec![placed(), paid()], OrderStatus::Paid),
        (vec![placed(), paid(), shipped("SF1")], OrderStatus::Shipped),
        (
            vec![placed(), paid(), shipped("SF1"), completed()],
            OrderStatus::Completed,
        ),
    ] {
        let mut events = history;
        events.push(refund_requested("r-1", &[(0, 1, 971)]));
        events.push(refund_completed("r-1", 971));
        let order = replay(events);
        assert_eq!(order.status(), Some(before));
        assert_eq!(order.refunded_amount(), money(971));
        assert_eq!(order.refunded_units(0), 1);
        assert_eq!(order.refunded_units(1), 0);
    }
}

#[test]
fn completing_the_refund_of_every_unit_makes_the_order_refunded() {
    let order = replay(vec![
        placed(),
        paid(),
        refund_requested("r-1", &[(0, 3, 2914), (1, 1, 486)]),
        refund_completed("r-1", TOTAL),
    ]);
    assert_eq!(order.status(), Some(OrderStatus::Refunded));
    assert_eq!(order.refunded_amount(), money(TOTAL));
}

#[test]
fn the_order_stays_refunding_until_its_last_open_refund_completes() {
    let mut events = vec![
        placed(),
        paid(),
        refund_requested("r-1", &[(0, 3, 2914)]),
        refund_requested("r-2", &[(1, 1, 486)]),
        refund_completed("r-2", 486),
    ];
    assert_eq!(
        replay(events.clone()).status(),
        Some(OrderStatus::Refunding)
    );
    events.push(refund_completed("r-1", 2914));
    assert_eq!(replay(events).status(), Some(OrderStatus::Refunded));
}

#[test]
fn refunding_a_payment_after_close_returns_it_in_full() {
    given(vec![
        placed(),
        cancelled(CancelReason::PaymentTimeout),
        paid_after_close("t-9", 1234),
    ])
    .when(refund_paid_after_close("r-9", "t-9"))
    .then_expect_events(vec![after_close_refund_requested("r-9", "t-9", 1234)]);
}

#[test]
fn refunding_a_payment_after_close_again_changes_nothing() {
    given(vec![
        placed(),
        cancelled(CancelReason::PaymentTimeout),
        paid_after_close("t-9", 1234),
        after_close_refund_requested("r-9", "t-9", 1234),
    ])
    .when(refund_paid_after_close("r-9", "t-9"))
    .then_expect_events(vec![]);
}

#[test]
fn refunding_a_payment_after_close_under_a_second_refund_id_is_refused() {
    given(vec![
        placed(),
        cancelled(CancelReason::PaymentTimeout),
        paid_after_close("t-9", 1234),
        after_close_refund_requested("r-9", "t-9", 1234),
    ])
    .when(refund_paid_after_close("r-10", "t-9"))
    .then_expect_error(OrderError::PaymentAfterCloseAlreadyRefunded { txn_id: txn("t-9") });
}

#[test]
fn refunding_a_payment_after_close_that_does_not_exist_is_refused() {
    given(vec![placed(), cancelled(CancelReason::PaymentTimeout)])
        .when(refund_paid_after_close("r-9", "t-9"))
        .then_expect_error(OrderError::UnknownPaymentAfterClose { txn_id: txn("t-9") });
    // The order's own payment was not made after close.
    given(vec![placed(), paid()])
        .when(refund_paid_after_close("r-9", "t-1"))
        .then_expect_error(OrderError::UnknownPaymentAfterClose { txn_id: txn("t-1") });
}

#[test]
fn reusing_an_item_refund_id_for_a_payment_after_close_is_refused() {
    given(vec![
        placed(),
        paid(),
        refund_requested("r-1", &[(0, 1, 971)]),
    ])
    .when(refund_paid_after_close("r-1", "t-1"))
    .then_expect_error(OrderError::RefundIdReused {
        refund_id: refund_id("r-1"),
    });
}

#[test]
fn completing_the_refund_of_a_payment_after_close_settles_it_and_leaves_the_order_cancelled() {
    let history = vec![
        placed(),
        cancelled(CancelReason::PaymentTimeout),
        paid_after_close("t-9", 1234),
        after_close_refund_requested("r-9", "t-9", 1234),
    ];
    given(history.clone())
        .when(complete_refund("r-9"))
        .then_expect_events(vec![refund_completed("r-9", 1234)]);
    let open = replay(history.clone());
    assert_eq!(open.status(), Some(OrderStatus::Cancelled));
    assert_eq!(open.after_close_amount_owed(), money(1234));
    assert_eq!(
        open.after_close_payments()[0].refund_id,
        Some(refund_id("r-9"))
    );
    assert_eq!(open.refunds()[0].kind, RefundKind::PaidAfterClose);
    let mut events = history;
    events.push(refund_completed("r-9", 1234));
    let settled = replay(events);
    assert_eq!(settled.status(), Some(OrderStatus::Cancelled));
    assert_eq!(settled.after_close_amount_owed(), money(0));
    assert_eq!(settled.refunded_amount(), money(0));
}

proptest! {
    /// Refund the order's units in random portions, requesting and completing each refund
    /// through `decide`: the refunds return exactly the total paid and the order ends refunded.
    #[test]
    fn refunds_in_any_portions_return_exactly_the_total_paid(
        portions in prop::collection::vec((0u32..=1, 1u32..=3), 1..12),
    ) {
        let mut order = replay(vec![placed(), paid()]);
        let mut returned = 0;
        for (index, (line, units)) in portions.into_iter().enumerate() {
            let left = 3 - order.refunded_units(0);
            let units = if line == 0 { units.min(left) } else { 1 };
            if units == 0 || order.status() == Some(OrderStatus::Refunded) {
                continue;
            }
            let id = format!("r-{index}");
            let Ok(requested) = order.decide(request_refund(&id, &[(line, units)])) else {
                continue; // line 1 was refunded already
            };
            for event in requested {
                order.apply(event);
            }
            for event in order.decide(complete_refund(&id)).unwrap() {
                if let OrderEvent::RefundCompleted(e) = &event {
                    returned += e.amount.minor();
                }
                order.apply(event);
            }
            prop_assert!(returned <= TOTAL);
        }
        // Refund whatever is left, then everything paid has gone back.
        let left: Vec<(u32, u32)> = [(0, 3 - order.refunded_units(0)), (1, 1 - order.refunded_units(1))]
            .into_iter()
            .filter(|(_, units)| *units > 0)
            .collect();
        if !left.is_empty() {
            for event in order.decide(request_refund("r-last", &left)).unwrap() {
                order.apply(event);
            }
            for event in order.decide(complete_refund("r-last")).unwrap() {
                if let OrderEvent::RefundCompleted(e) = &event {
                    returned += e.amount.minor();
                }
                order.apply(event);
            }
        }
        prop_assert_eq!(returned, TOTAL);
        prop_assert_eq!(order.refunded_amount(), money(TOTAL));
        prop_assert_eq!(order.status(), Some(OrderStatus::Refunded));
    }
}
