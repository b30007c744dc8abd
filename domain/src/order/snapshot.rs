//! The order as others store it: [`OrderSnapshot`], a public type of its own, so that the
//! aggregate's private layout never reaches a table. The read models keep one per order
//! (`order_detail.state`) and fold the next events onto the order it restores; the aggregate's
//! own serde form (which cqrs-es asks for) is this one too.
//!
//! Its JSON form is a stored format, pinned by the fixtures under
//! `domain/tests/fixtures/state/Order` (ADR 31): a change to it is a change of every stored
//! order, made on purpose, never by renaming a field of the aggregate.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{
    AfterClosePayment, CampaignLine, CancelReason, Order, OrderItem, OrderState, OrderStatus,
    Payment, PlacementRejected, Refund,
};
use crate::{BuyerId, Money, OrderId, SellerId, TrackingNumber};

/// An order id's whole story as the read models keep it: the order once placed, or the
/// rejection of its placement.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderSnapshot {
    /// The order; `None` before it is placed.
    #[serde(rename = "state")]
    pub placed: Option<PlacedOrder>,
    /// The rejection of a placement that never became an order.
    pub rejection: Option<PlacementRejected>,
}

/// A placed order, every field of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlacedOrder {
    /// The order's id.
    pub order_id: OrderId,
    /// Who buys.
    pub buyer: BuyerId,
    /// Who sells.
    pub seller: SellerId,
    /// The lines, in order.
    pub items: Vec<OrderItem>,
    /// Sum of the lines' list totals.
    pub list_total: Money,
    /// The order-level discount.
    pub discount: Money,
    /// What the buyer pays.
    pub total: Money,
    /// When it was placed.
    #[serde(with = "crate::timestamp")]
    pub placed_at: DateTime<Utc>,
    /// When an unpaid order is cancelled.
    #[serde(with = "crate::timestamp")]
    pub payment_due_at: DateTime<Utc>,
    /// The flash-sale campaign it was bought in, absent for other orders.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign: Option<CampaignLine>,
    /// Where it is in its life cycle.
    pub status: OrderStatus,
    /// Where a partial refund returns the order to: its status when the refund opened.
    pub status_before_refund: Option<OrderStatus>,
    /// The payment that paid it.
    pub payment: Option<Payment>,
    /// Why it was cancelled.
    pub cancel_reason: Option<CancelReason>,
    /// The parcel's tracking number.
    pub tracking_number: Option<TrackingNumber>,
    /// Every refund requested, in order.
    pub refunds: Vec<Refund>,
    /// Payments it did not need (after it was cancelled, or a second one), to be refunded.
    pub after_close_payments: Vec<AfterClosePayment>,
}

impl From<OrderState> for PlacedOrder {
    fn from(s: OrderState) -> Self {
        Self {
            order_id: s.order_id,
            buyer: s.buyer,
            seller: s.seller,
            items: s.items,
            list_total: s.list_total,
            discount: s.discount,
            total: s.total,
            placed_at: s.placed_at,
            payment_due_at: s.payment_due_at,
            campaign: s.campaign.clone(),
            status: s.status,
            status_before_refund: s.status_before_refund,
            payment: s.payment,
            cancel_reason: s.cancel_reason,
            tracking_number: s.tracking_number,
            refunds: s.refunds,
            after_close_payments: s.after_close_payments,
        }
    }
}

impl From<PlacedOrder> for OrderState {
    fn from(p: PlacedOrder) -> Self {
        Self {
            order_id: p.order_id,
            buyer: p.buyer,
            seller: p.seller,
            items: p.items,
            list_total: p.list_total,
            discount: p.discount,
            total: p.total,
            placed_at: p.placed_at,
            payment_due_at: p.payment_due_at,
            campaign: p.campaign,
            status: p.status,
            status_before_refund: p.status_before_refund,
            payment: p.payment,
            cancel_reason: p.cancel_reason,
            tracking_number: p.tracking_number,
            refunds: p.refunds,
            after_close_payments: p.after_close_payments,
        }
    }
}

impl From<Order> for OrderSnapshot {
    fn from(order: Order) -> Self {
        Self {
            placed: order.state.map(PlacedOrder::from),
            rejection: order.rejection,
        }
    }
}

impl From<OrderSnapshot> for Order {
    fn from(snapshot: OrderSnapshot) -> Self {
        Self {
            state: snapshot.placed.map(OrderState::from),
            rejection: snapshot.rejection,
        }
    }
}

impl Order {
    /// The order as others store it.
    pub fn snapshot(&self) -> OrderSnapshot {
        self.clone().into()
    }
}
