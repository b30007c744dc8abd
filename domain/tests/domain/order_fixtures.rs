//! The order used by the order tests, and its commands and events.
//!
//! Order 1001 of buyer "b-1" with seller "s-1": line 0 is 3 x "tea" at 1000, line 1 is
//! 1 x "cup" at 500, list total 3500. The discount of 100 splits 85.7 / 14.3, so by largest
//! remainder line 0 gets 86 and line 1 gets 14: paid 2914 and 486, total 3400. Placed at
//! minute 0, payment due at minute 15.

use cqrs_es::Aggregate;
use cqrs_es::test::{AggregateTestExecutor, TestFramework};
use domain::{
    CancelOrder, CancelReason, CompleteRefund, ConfirmPayment, ConfirmReceipt, ItemRequest,
    LogisticsUpdated, Order, OrderCancelled, OrderCommand, OrderCompleted, OrderEvent, OrderItem,
    OrderPlaced, OrderShipped, PaidAfterClose, PaymentConfirmed, PlaceOrder, RefundCompleted,
    RefundItem, RefundKind, RefundLine, RefundPaidAfterClose, RefundRequested, RequestRefund,
    ShipOrder, UpdateLogistics,
};

use crate::fixtures::{
    at, buyer, money, order_id, qty, refund_id, seller, snapshot, tracking, txn,
};

pub(crate) const TOTAL: i64 = 3400;

pub(crate) fn given(events: Vec<OrderEvent>) -> AggregateTestExecutor<Order> {
    TestFramework::<Order>::with(()).given(events)
}

pub(crate) fn replay(events: Vec<OrderEvent>) -> Order {
    let mut order = Order::default();
    for event in events {
        order.apply(event);
    }
    order
}

pub(crate) fn item_requests() -> Vec<ItemRequest> {
    vec![
        ItemRequest {
            quantity: qty(3),
            snapshot: snapshot("tea", 1000),
        },
        ItemRequest {
            quantity: qty(1),
            snapshot: snapshot("cup", 500),
        },
    ]
}

pub(crate) fn place_order(items: Vec<ItemRequest>, discount: i64) -> PlaceOrder {
    PlaceOrder {
        order_id: order_id(1001),
        buyer: buyer("b-1"),
        seller: seller("s-1"),
        items,
        discount: money(discount),
        placed_at: at(0),
        payment_due_at: at(15),
        campaign: None,
    }
}

pub(crate) fn place() -> OrderCommand {
    OrderCommand::PlaceOrder(place_order(item_requests(), 100))
}

pub(crate) fn placed() -> OrderEvent {
    OrderEvent::OrderPlaced(OrderPlaced {
        order_id: order_id(1001),
        buyer: buyer("b-1"),
        seller: seller("s-1"),
        items: vec![
            OrderItem {
                line: 0,
                sku: crate::fixtures::sku("tea"),
                quantity: qty(3),
                snapshot: snapshot("tea", 1000),
                list_total: money(3000),
                discount: money(86),
                paid_amount: money(2914),
            },
            OrderItem {
                line: 1,
                sku: crate::fixtures::sku("cup"),
                quantity: qty(1),
                snapshot: snapshot("cup", 500),
                list_total: money(500),
                discount: money(14),
                paid_amount: money(486),
            },
        ],
        list_total: money(3500),
        discount: money(100),
        total: money(TOTAL),
        placed_at: at(0),
        payment_due_at: at(15),
        campaign: None,
    })
}

pub(crate) fn pay(txn_id: &str, amount: i64) -> OrderCommand {
    OrderCommand::ConfirmPayment(ConfirmPayment {
        txn_id: txn(txn_id),
        amount: money(amount),
        at: at(5),
    })
}

pub(crate) fn paid() -> OrderEvent {
    OrderEvent::PaymentConfirmed(PaymentConfirmed {
        txn_id: txn("t-1"),
        amount: money(TOTAL),
        at: at(5),
    })
}

pub(crate) fn paid_after_close(txn_id: &str, amount: i64) -> OrderEvent {
    OrderEvent::PaidAfterClose(PaidAfterClose {
        txn_id: txn(txn_id),
        amount: money(amount),
        at: at(5),
    })
}

pub(crate) fn cancel(reason: CancelReason) -> OrderCommand {
    OrderCommand::CancelOrder(CancelOrder { reason, at: at(16) })
}

pub(crate) fn cancelled(reason: CancelReason) -> OrderEvent {
    OrderEvent::OrderCancelled(OrderCancelled { reason, at: at(16) })
}

pub(crate) fn update_logistics(number: &str) -> OrderCommand {
    OrderCommand::UpdateLogistics(UpdateLogistics {
        tracking_number: tracking(number),
        at: at(20),
    })
}

pub(crate) fn logistics_updated(number: &str) -> OrderEvent {
    OrderEvent::LogisticsUpdated(LogisticsUpdated {
        tracking_number: tracking(number),
        at: at(20),
    })
}

pub(crate) fn ship(number: Option<&str>) -> OrderCommand {
    OrderCommand::ShipOrder(ShipOrder {
        tracking_number: number.map(tracking),
        at: at(30),
    })
}

pub(crate) fn shipped(number: &str) -> OrderEvent {
    OrderEvent::OrderShipped(OrderShipped {
        tracking_number: tracking(number),
        at: at(30),
    })
}

pub(crate) fn confirm_receipt() -> OrderCommand {
    OrderCommand::ConfirmReceipt(ConfirmReceipt { at: at(40) })
}

pub(crate) fn completed() -> OrderEvent {
    OrderEvent::OrderCompleted(OrderCompleted { at: at(40) })
}

/// `(line, units)` pairs.
pub(crate) fn request_refund(id: &str, items: &[(u32, u32)]) -> OrderCommand {
    OrderCommand::RequestRefund(RequestRefund {
        refund_id: refund_id(id),
        items: items
            .iter()
            .map(|(line, units)| RefundItem {
                line: *line,
                quantity: qty(*units),
            })
            .collect(),
        at: at(50),
    })
}

/// `(line, units, amount)` triples, refunded through the order's payment "t-1".
pub(crate) fn refund_requested(id: &str, lines: &[(u32, u32, i64)]) -> OrderEvent {
    let refund_lines: Vec<RefundLine> = lines
        .iter()
        .map(|(line, units, amount)| RefundLine {
            line: *line,
            quantity: qty(*units),
            amount: money(*amount),
        })
        .collect();
    OrderEvent::RefundRequested(RefundRequested {
        refund_id: refund_id(id),
        kind: RefundKind::Items,
        txn_id: txn("t-1"),
        amount: money(lines.iter().map(|(_, _, amount)| amount).sum()),
        lines: refund_lines,
        at: at(50),
    })
}

pub(crate) fn refund_paid_after_close(id: &str, txn_id: &str) -> OrderCommand {
    OrderCommand::RefundPaidAfterClose(RefundPaidAfterClose {
        refund_id: refund_id(id),
        txn_id: txn(txn_id),
        at: at(50),
    })
}

pub(crate) fn after_close_refund_requested(id: &str, txn_id: &str, amount: i64) -> OrderEvent {
    OrderEvent::RefundRequested(RefundRequested {
        refund_id: refund_id(id),
        kind: RefundKind::PaidAfterClose,
        txn_id: txn(txn_id),
        lines: vec![],
        amount: money(amount),
        at: at(50),
    })
}

pub(crate) fn complete_refund(id: &str) -> OrderCommand {
    OrderCommand::CompleteRefund(CompleteRefund {
        refund_id: refund_id(id),
        at: at(60),
    })
}

pub(crate) fn refund_completed(id: &str, amount: i64) -> OrderEvent {
    OrderEvent::RefundCompleted(RefundCompleted {
        refund_id: refund_id(id),
        amount: money(amount),
        at: at(60),
    })
}
