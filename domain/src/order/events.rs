//! What happened to an order: the public contract of the `Order` stream.

use std::fmt;

use chrono::{DateTime, Utc};
use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};

use crate::{
    BuyerId, CampaignId, Money, OrderId, ProductSnapshot, Quantity, RefundId, SellerId, SkuId,
    TrackingNumber, TxnId,
};

/// The version of `RefundRequested` written today: 2.0 named 1.0's `items` `lines`.
pub const REFUND_REQUESTED_VERSION: &str = "2.0";

/// An event of the `Order` aggregate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum OrderEvent {
    /// The order was placed; it awaits payment.
    OrderPlaced(OrderPlaced),
    /// A placement failed before the order existed; the order id is used up.
    PlacementRejected(PlacementRejected),
    /// The order was paid.
    PaymentConfirmed(PaymentConfirmed),
    /// A payment arrived after the order was closed; it must be refunded.
    PaidAfterClose(PaidAfterClose),
    /// The unpaid order was cancelled.
    OrderCancelled(OrderCancelled),
    /// The parcel's tracking number was set or changed.
    LogisticsUpdated(LogisticsUpdated),
    /// The parcel was handed to the carrier.
    OrderShipped(OrderShipped),
    /// The buyer received the parcel.
    OrderCompleted(OrderCompleted),
    /// A refund was requested from the payment provider.
    RefundRequested(RefundRequested),
    /// The payment provider paid a refund out.
    RefundCompleted(RefundCompleted),
}

impl DomainEvent for OrderEvent {
    fn event_type(&self) -> String {
        match self {
            Self::OrderPlaced(_) => "OrderPlaced",
            Self::PlacementRejected(_) => "PlacementRejected",
            Self::PaymentConfirmed(_) => "PaymentConfirmed",
            Self::PaidAfterClose(_) => "PaidAfterClose",
            Self::OrderCancelled(_) => "OrderCancelled",
            Self::LogisticsUpdated(_) => "LogisticsUpdated",
            Self::OrderShipped(_) => "OrderShipped",
            Self::OrderCompleted(_) => "OrderCompleted",
            Self::RefundRequested(_) => "RefundRequested",
            Self::RefundCompleted(_) => "RefundCompleted",
        }
        .to_owned()
    }

    /// Each type's own version, raised when its payload changes shape; the log keeps older
    /// versions and [`crate::upcasters`] reads them as today's (ADR 31).
    fn event_version(&self) -> String {
        match self {
            Self::OrderPlaced(_)
            | Self::PlacementRejected(_)
            | Self::PaymentConfirmed(_)
            | Self::PaidAfterClose(_)
            | Self::OrderCancelled(_)
            | Self::LogisticsUpdated(_)
            | Self::OrderShipped(_)
            | Self::OrderCompleted(_)
            | Self::RefundCompleted(_) => "1.0",
            // 2.0: `items` renamed `lines`
            Self::RefundRequested(_) => REFUND_REQUESTED_VERSION,
        }
        .to_owned()
    }
}

/// One line of a placed order, with the product snapshot it was bought at and what the buyer
/// pays for it after the order's discount.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderItem {
    /// Position in the order, from 0.
    pub line: u32,
    /// The SKU (the same as `snapshot.sku`).
    pub sku: SkuId,
    /// Units bought.
    pub quantity: Quantity,
    /// The product as the buyer saw it.
    pub snapshot: ProductSnapshot,
    /// `snapshot.unit_price * quantity`.
    pub list_total: Money,
    /// This line's share of the order's discount.
    pub discount: Money,
    /// `list_total - discount`: what a full refund of this line returns.
    pub paid_amount: Money,
}

/// The order was placed; it awaits payment until `payment_due_at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderPlaced {
    /// The order.
    pub order_id: OrderId,
    /// Who buys.
    pub buyer: BuyerId,
    /// Who sells.
    pub seller: SellerId,
    /// The lines.
    pub items: Vec<OrderItem>,
    /// Sum of the lines' list totals.
    pub list_total: Money,
    /// Order-level discount (the sum of the lines' discounts).
    pub discount: Money,
    /// What the buyer pays: `list_total - discount`, the sum of the lines' paid amounts.
    pub total: Money,
    /// When.
    #[serde(with = "crate::timestamp")]
    pub placed_at: DateTime<Utc>,
    /// When the order is cancelled unless paid.
    #[serde(with = "crate::timestamp")]
    pub payment_due_at: DateTime<Utc>,
    /// The flash-sale campaign it was bought in, absent for other orders.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign: Option<CampaignLine>,
}

/// Where a flash-sale order's units are held: the campaign and the bucket its one line
/// reserved in (ADR 38).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CampaignLine {
    /// The campaign.
    pub campaign_id: CampaignId,
    /// The bucket of the campaign's stock that holds the units.
    pub bucket: u32,
}

/// The order was paid in full by one transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentConfirmed {
    /// The provider's transaction.
    pub txn_id: TxnId,
    /// What was paid: the order's total.
    pub amount: Money,
    /// When.
    #[serde(with = "crate::timestamp")]
    pub at: DateTime<Utc>,
}

/// A payment the order did not need: it arrived after the order was cancelled, or it is a
/// second payment (another transaction) of a paid order. The money must go back
/// (`RefundPaidAfterClose`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaidAfterClose {
    /// The provider's transaction.
    pub txn_id: TxnId,
    /// What was paid (whatever it was).
    pub amount: Money,
    /// When.
    #[serde(with = "crate::timestamp")]
    pub at: DateTime<Utc>,
}

/// Why an order was cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CancelReason {
    /// The buyer cancelled.
    BuyerCancelled,
    /// It was not paid by its payment deadline.
    PaymentTimeout,
    /// Risk control stopped it.
    Risk,
}

impl fmt::Display for CancelReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::BuyerCancelled => "BuyerCancelled",
            Self::PaymentTimeout => "PaymentTimeout",
            Self::Risk => "Risk",
        })
    }
}

/// The unpaid order was cancelled; its stock goes back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderCancelled {
    /// Why.
    pub reason: CancelReason,
    /// When.
    #[serde(with = "crate::timestamp")]
    pub at: DateTime<Utc>,
}

/// The parcel's tracking number was set or changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogisticsUpdated {
    /// The new tracking number.
    pub tracking_number: TrackingNumber,
    /// When.
    #[serde(with = "crate::timestamp")]
    pub at: DateTime<Utc>,
}

/// The parcel was handed to the carrier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderShipped {
    /// The parcel's tracking number.
    pub tracking_number: TrackingNumber,
    /// When.
    #[serde(with = "crate::timestamp")]
    pub at: DateTime<Utc>,
}

/// The buyer received the parcel; the order is complete.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderCompleted {
    /// When.
    #[serde(with = "crate::timestamp")]
    pub at: DateTime<Utc>,
}

/// What a refund gives back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RefundKind {
    /// Units of the order's items, from the order's payment; the order is `Refunding` while
    /// it is open.
    Items,
    /// The whole of a payment that arrived after the order was closed; it has no item lines
    /// and does not change the order's status.
    PaidAfterClose,
}

/// Units of one line being refunded, and the money they return.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundLine {
    /// The order line.
    pub line: u32,
    /// Units refunded.
    pub quantity: Quantity,
    /// Money returned for them (see `money::refund_share`).
    pub amount: Money,
}

/// A refund was requested from the payment provider, against transaction `txn_id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundRequested {
    /// The refund.
    pub refund_id: RefundId,
    /// Items, or a payment after close.
    pub kind: RefundKind,
    /// The transaction the money goes back through.
    pub txn_id: TxnId,
    /// Lines refunded (empty for `RefundKind::PaidAfterClose`); `items` before version 2.0.
    pub lines: Vec<RefundLine>,
    /// Total to return: the sum of the lines, or the whole after-close payment.
    pub amount: Money,
    /// When.
    #[serde(with = "crate::timestamp")]
    pub at: DateTime<Utc>,
}

/// The payment provider paid a refund out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundCompleted {
    /// The refund.
    pub refund_id: RefundId,
    /// What it returned.
    pub amount: Money,
    /// When.
    #[serde(with = "crate::timestamp")]
    pub at: DateTime<Utc>,
}

/// A placement that failed after it may have reserved stock. Whoever appends the first event
/// of an order stream decides the fate of the order id's stock reservations: `OrderPlaced`
/// keeps them for the order, `PlacementRejected` releases them. So a failed placement claims
/// the stream before it releases anything, and a racing placement with the same id can never
/// end up as an order whose stock was released.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlacementRejected {
    /// The order id that is now used up.
    pub order_id: OrderId,
    /// The buyer who tried to place it; `None` when the abandoned-placement sweeper claimed
    /// the id (a reservation does not record its buyer). Absent from the stored payload when
    /// `None`, so rejections with a buyer are stored as they always were (ADR 32).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buyer: Option<BuyerId>,
    /// Why it failed.
    pub reason: RejectionReason,
    /// When.
    #[serde(with = "crate::timestamp")]
    pub at: DateTime<Utc>,
}

/// Why a placement failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RejectionReason {
    /// Not enough stock of this SKU.
    OutOfStock {
        /// The SKU that ran out.
        sku: SkuId,
    },
    /// The same order id was being placed with other quantities at the same time.
    ConflictingPlacement {
        /// The SKU whose reservation differed.
        sku: SkuId,
    },
    /// The placement was never finished (its process stopped half-way): the abandoned-placement
    /// sweeper found its reservations without an order after the bound (ADR 32).
    Abandoned,
    /// The buyer's limit in the campaign was reached while the placement reserved its units
    /// (the claim and the reservation run at once, ADR 38).
    OverLimit {
        /// The campaign.
        campaign_id: CampaignId,
    },
}
