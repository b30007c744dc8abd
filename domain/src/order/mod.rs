//! The `Order` aggregate: one order of one buyer with one seller; its aggregate id is the
//! order id.
//!
//! ```text
//! PendingPayment -> Paid -> Shipped -> Completed
//!       |            \________|__________/
//!       v                     | RefundRequested (items)
//!   Cancelled                 v
//!   (a PaidAfterClose     Refunding -> Refunded             (every unit refunded)
//!    is refunded in full)     \-----> Paid/Shipped/Completed (partial: back where it was)
//! ```
//!
//! While an item refund is open the order is `Refunding` and only takes refund commands (and
//! more refund requests); when the last open refund completes it is `Refunded` if every unit
//! of every line has been refunded, else back where it was.
//!
//! Every command is safe to repeat: a duplicate (same order content, same transaction id,
//! same refund id, same tracking number, a second cancel) emits nothing.

mod commands;
mod decide;
mod error;
mod events;
mod snapshot;

use std::fmt;

use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use serde::{Deserialize, Serialize};

pub use commands::{
    AbandonPlacement, CancelOrder, CompleteRefund, ConfirmPayment, ConfirmReceipt, ItemRequest,
    OrderCommand, PlaceOrder, RefundItem, RefundPaidAfterClose, RejectPlacement, RequestRefund,
    ShipOrder, UpdateLogistics,
};
pub use error::OrderError;
pub use events::{
    CampaignLine, CancelReason, LogisticsUpdated, OrderCancelled, OrderCompleted, OrderEvent,
    OrderItem, OrderPlaced, OrderShipped, PaidAfterClose, PaymentConfirmed, PlacementRejected,
    REFUND_REQUESTED_VERSION, RefundCompleted, RefundKind, RefundLine, RefundRequested,
    RejectionReason,
};
pub use snapshot::{OrderSnapshot, PlacedOrder};

use crate::{BuyerId, Money, OrderId, RefundId, SellerId, TrackingNumber, TxnId};

/// Most lines in one order.
pub const ORDER_ITEMS_MAX: usize = 100;

/// Where an order is in its life cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OrderStatus {
    /// Placed, awaiting payment until its payment deadline.
    PendingPayment,
    /// Paid, not shipped yet.
    Paid,
    /// Handed to the carrier.
    Shipped,
    /// Received by the buyer.
    Completed,
    /// Cancelled before payment (final).
    Cancelled,
    /// An item refund is open.
    Refunding,
    /// Every unit of every line has been refunded (final).
    Refunded,
}

impl OrderStatus {
    /// The status's stable name, as serialised (e.g. `"PendingPayment"`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::PendingPayment => "PendingPayment",
            Self::Paid => "Paid",
            Self::Shipped => "Shipped",
            Self::Completed => "Completed",
            Self::Cancelled => "Cancelled",
            Self::Refunding => "Refunding",
            Self::Refunded => "Refunded",
        }
    }

    /// Whether nothing but refunds of late payments can happen to the order any more.
    /// (`Completed` is not final: a completed order can still be refunded.)
    pub const fn is_final(self) -> bool {
        matches!(self, Self::Cancelled | Self::Refunded)
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The payment that paid the order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payment {
    /// The provider's transaction.
    pub txn_id: TxnId,
    /// What was paid (the order's total).
    pub amount: Money,
    /// When.
    #[serde(with = "crate::timestamp")]
    pub at: DateTime<Utc>,
}

/// A payment the order did not need (it arrived after the order was cancelled, or it is a
/// second payment of a paid order), and must be refunded in full.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AfterClosePayment {
    /// The provider's transaction.
    pub txn_id: TxnId,
    /// What was paid.
    pub amount: Money,
    /// When.
    #[serde(with = "crate::timestamp")]
    pub at: DateTime<Utc>,
    /// The refund requested for it, if any (see [`Order::refunds`] for whether it completed).
    pub refund_id: Option<RefundId>,
}

/// A refund requested for the order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refund {
    /// The refund.
    pub refund_id: RefundId,
    /// Items, or a payment after close.
    pub kind: RefundKind,
    /// The transaction the money goes back through.
    pub txn_id: TxnId,
    /// Lines refunded (empty for a payment after close).
    pub lines: Vec<RefundLine>,
    /// Money returned.
    pub amount: Money,
    /// When it was requested.
    #[serde(with = "crate::timestamp")]
    pub requested_at: DateTime<Utc>,
    /// When the provider paid it out; `None` while open.
    #[serde(with = "crate::timestamp::option", default)]
    pub completed_at: Option<DateTime<Utc>>,
}

impl Refund {
    /// Whether the provider has not paid it out yet.
    pub const fn is_open(&self) -> bool {
        self.completed_at.is_none()
    }
}

/// The `Order` aggregate. Every getter answers `None` (or empty, or zero) before the order is
/// placed. Its serde form is its [`OrderSnapshot`]'s: its own fields are private and free to
/// change.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "OrderSnapshot", into = "OrderSnapshot")]
pub struct Order {
    state: Option<OrderState>,
    rejection: Option<PlacementRejected>,
}

/// A placed order.
#[derive(Debug, Clone, PartialEq, Eq)]
struct OrderState {
    order_id: OrderId,
    buyer: BuyerId,
    seller: SellerId,
    items: Vec<OrderItem>,
    list_total: Money,
    discount: Money,
    total: Money,
    placed_at: DateTime<Utc>,
    payment_due_at: DateTime<Utc>,
    campaign: Option<CampaignLine>,
    status: OrderStatus,
    /// Where a partial refund returns the order to: its status when the refund opened.
    status_before_refund: Option<OrderStatus>,
    payment: Option<Payment>,
    cancel_reason: Option<CancelReason>,
    tracking_number: Option<TrackingNumber>,
    refunds: Vec<Refund>,
    after_close_payments: Vec<AfterClosePayment>,
}

impl OrderState {
    fn placed(e: OrderPlaced) -> Self {
        Self {
            order_id: e.order_id,
            buyer: e.buyer,
            seller: e.seller,
            items: e.items,
            list_total: e.list_total,
            discount: e.discount,
            total: e.total,
            placed_at: e.placed_at,
            payment_due_at: e.payment_due_at,
            campaign: e.campaign,
            status: OrderStatus::PendingPayment,
            status_before_refund: None,
            payment: None,
            cancel_reason: None,
            tracking_number: None,
            refunds: Vec::new(),
            after_close_payments: Vec::new(),
        }
    }

    /// Units of `line` refunded, counting open refunds too when `include_open`.
    fn units_refunded(&self, line: u32, include_open: bool) -> u32 {
        self.refunds
            .iter()
            .filter(|refund| include_open || !refund.is_open())
            .flat_map(|refund| &refund.lines)
            .filter(|refund_line| refund_line.line == line)
            .map(|refund_line| refund_line.quantity.get())
            .sum()
    }

    fn every_unit_refunded(&self) -> bool {
        self.items
            .iter()
            .all(|item| self.units_refunded(item.line, false) >= item.quantity.get())
    }
}

impl Order {
    /// The rejection of a placement that never became an order.
    pub const fn rejection(&self) -> Option<&PlacementRejected> {
        self.rejection.as_ref()
    }

    /// Whether the order has been placed.
    pub const fn exists(&self) -> bool {
        self.state.is_some()
    }

    /// The order's id.
    pub fn order_id(&self) -> Option<OrderId> {
        self.state.as_ref().map(|s| s.order_id)
    }

    /// Where the order is in its life cycle.
    pub fn status(&self) -> Option<OrderStatus> {
        self.state.as_ref().map(|s| s.status)
    }

    /// Who buys.
    pub fn buyer(&self) -> Option<&BuyerId> {
        self.state.as_ref().map(|s| &s.buyer)
    }

    /// Who sells.
    pub fn seller(&self) -> Option<&SellerId> {
        self.state.as_ref().map(|s| &s.seller)
    }

    /// The lines, in order.
    pub fn items(&self) -> &[OrderItem] {
        self.state.as_ref().map_or(&[], |s| &s.items)
    }

    /// Sum of the lines' list totals.
    pub fn list_total(&self) -> Option<Money> {
        self.state.as_ref().map(|s| s.list_total)
    }

    /// The order-level discount.
    pub fn discount(&self) -> Option<Money> {
        self.state.as_ref().map(|s| s.discount)
    }

    /// What the buyer pays.
    pub fn total(&self) -> Option<Money> {
        self.state.as_ref().map(|s| s.total)
    }

    /// When the order was placed.
    pub fn placed_at(&self) -> Option<DateTime<Utc>> {
        self.state.as_ref().map(|s| s.placed_at)
    }

    /// When an unpaid order is cancelled.
    pub fn payment_due_at(&self) -> Option<DateTime<Utc>> {
        self.state.as_ref().map(|s| s.payment_due_at)
    }

    /// The flash-sale campaign it was bought in, if any.
    pub fn campaign(&self) -> Option<&CampaignLine> {
        self.state.as_ref().and_then(|s| s.campaign.as_ref())
    }

    /// The payment that paid the order.
    pub fn payment(&self) -> Option<&Payment> {
        self.state.as_ref().and_then(|s| s.payment.as_ref())
    }

    /// The transaction that paid the order.
    pub fn paid_txn(&self) -> Option<&TxnId> {
        self.payment().map(|p| &p.txn_id)
    }

    /// Why the order was cancelled.
    pub fn cancel_reason(&self) -> Option<CancelReason> {
        self.state.as_ref().and_then(|s| s.cancel_reason)
    }

    /// The parcel's tracking number.
    pub fn tracking_number(&self) -> Option<&TrackingNumber> {
        self.state.as_ref().and_then(|s| s.tracking_number.as_ref())
    }

    /// Every refund requested, in order.
    pub fn refunds(&self) -> &[Refund] {
        self.state.as_ref().map_or(&[], |s| &s.refunds)
    }

    /// Money returned from the order's payment by completed item refunds.
    pub fn refunded_amount(&self) -> Money {
        self.completed_refunds(RefundKind::Items)
    }

    /// Units of `line` refunded by completed refunds.
    pub fn refunded_units(&self, line: u32) -> u32 {
        self.state
            .as_ref()
            .map_or(0, |s| s.units_refunded(line, false))
    }

    /// Payments the order did not need: after it was cancelled, or a second one.
    pub fn after_close_payments(&self) -> &[AfterClosePayment] {
        self.state.as_ref().map_or(&[], |s| &s.after_close_payments)
    }

    /// Money paid after close and not yet returned by a completed refund: what the
    /// platform still owes the buyer for late payments.
    pub fn after_close_amount_owed(&self) -> Money {
        let paid = Money::checked_sum(self.after_close_payments().iter().map(|p| p.amount));
        paid.and_then(|paid| paid.checked_sub(self.completed_refunds(RefundKind::PaidAfterClose)))
            .unwrap_or_else(Money::zero)
    }

    fn completed_refunds(&self, kind: RefundKind) -> Money {
        Money::checked_sum(
            self.refunds()
                .iter()
                .filter(|refund| refund.kind == kind && !refund.is_open())
                .map(|refund| refund.amount),
        )
        .unwrap_or_else(Money::zero)
    }
}

impl Aggregate for Order {
    const TYPE: &'static str = "Order";
    type Command = OrderCommand;
    type Event = OrderEvent;
    type Error = OrderError;
    type Services = ();

    async fn handle(
        &mut self,
        command: OrderCommand,
        _services: &(),
        sink: &EventSink<Self>,
    ) -> Result<(), OrderError> {
        for event in self.decide(command)? {
            sink.write(event, self).await;
        }
        Ok(())
    }

    // `decide` only emits events that fit the current state; an event that does not (a
    // corrupt log) is applied as far as it makes sense rather than panicking.
    fn apply(&mut self, event: OrderEvent) {
        if let OrderEvent::OrderPlaced(e) = event {
            self.state = Some(OrderState::placed(e));
            return;
        }
        if let OrderEvent::PlacementRejected(e) = event {
            self.rejection = Some(e);
            return;
        }
        let Some(state) = &mut self.state else {
            return;
        };
        match event {
            // Handled above: the events that need no order.
            OrderEvent::OrderPlaced(_) | OrderEvent::PlacementRejected(_) => {}
            OrderEvent::PaymentConfirmed(e) => {
                state.payment = Some(Payment {
                    txn_id: e.txn_id,
                    amount: e.amount,
                    at: e.at,
                });
                state.status = OrderStatus::Paid;
            }
            OrderEvent::PaidAfterClose(e) => state.after_close_payments.push(AfterClosePayment {
                txn_id: e.txn_id,
                amount: e.amount,
                at: e.at,
                refund_id: None,
            }),
            OrderEvent::OrderCancelled(e) => {
                state.cancel_reason = Some(e.reason);
                state.status = OrderStatus::Cancelled;
            }
            OrderEvent::LogisticsUpdated(e) => state.tracking_number = Some(e.tracking_number),
            OrderEvent::OrderShipped(e) => {
                state.tracking_number = Some(e.tracking_number);
                state.status = OrderStatus::Shipped;
            }
            OrderEvent::OrderCompleted(_) => state.status = OrderStatus::Completed,
            OrderEvent::RefundRequested(e) => {
                match e.kind {
                    RefundKind::Items => {
                        if state.status != OrderStatus::Refunding {
                            state.status_before_refund = Some(state.status);
                            state.status = OrderStatus::Refunding;
                        }
                    }
                    RefundKind::PaidAfterClose => {
                        if let Some(payment) = state
                            .after_close_payments
                            .iter_mut()
                            .find(|p| p.txn_id == e.txn_id)
                        {
                            payment.refund_id = Some(e.refund_id.clone());
                        }
                    }
                }
                state.refunds.push(Refund {
                    refund_id: e.refund_id,
                    kind: e.kind,
                    txn_id: e.txn_id,
                    lines: e.lines,
                    amount: e.amount,
                    requested_at: e.at,
                    completed_at: None,
                });
            }
            OrderEvent::RefundCompleted(e) => {
                let Some(refund) = state
                    .refunds
                    .iter_mut()
                    .find(|r| r.refund_id == e.refund_id)
                else {
                    return;
                };
                refund.completed_at = Some(e.at);
                let kind = refund.kind;
                let items_refund_open = state
                    .refunds
                    .iter()
                    .any(|r| r.kind == RefundKind::Items && r.is_open());
                if kind == RefundKind::Items && !items_refund_open {
                    state.status = if state.every_unit_refunded() {
                        OrderStatus::Refunded
                    } else {
                        state
                            .status_before_refund
                            .take()
                            .unwrap_or(OrderStatus::Paid)
                    };
                }
            }
        }
    }
}
