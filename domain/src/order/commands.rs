//! What can be asked of an order.

use chrono::{DateTime, Utc};

use crate::{
    BuyerId, CampaignLine, CancelReason, Money, OrderId, ProductSnapshot, Quantity, RefundId,
    RejectionReason, SellerId, TrackingNumber, TxnId,
};

/// A command to the `Order` aggregate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderCommand {
    /// Place a new order (or retry placing it).
    PlaceOrder(PlaceOrder),
    /// Records that a placement failed before its order existed (for example out of stock),
    /// claiming the order id so that no racing placement can use it afterwards.
    RejectPlacement(RejectPlacement),
    /// Claims an order id whose placement reserved stock and never finished (the
    /// abandoned-placement sweeper): a `PlacementRejected` without a buyer, reason `Abandoned`.
    AbandonPlacement(AbandonPlacement),
    /// Record the payment provider's confirmation of a payment.
    ConfirmPayment(ConfirmPayment),
    /// Cancel an unpaid order.
    CancelOrder(CancelOrder),
    /// Set or change the parcel's tracking number.
    UpdateLogistics(UpdateLogistics),
    /// Hand the parcel to the carrier.
    ShipOrder(ShipOrder),
    /// The buyer received the parcel.
    ConfirmReceipt(ConfirmReceipt),
    /// Refund some units of some items.
    RequestRefund(RequestRefund),
    /// Refund a payment that arrived after the order was closed.
    RefundPaidAfterClose(RefundPaidAfterClose),
    /// The payment provider paid a refund out.
    CompleteRefund(CompleteRefund),
}

/// One line of an order to place: how many units of the product snapshot the buyer saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemRequest {
    /// Units.
    pub quantity: Quantity,
    /// The product as the buyer saw it (price and snapshot version).
    pub snapshot: ProductSnapshot,
}

/// Place an order with one seller.
///
/// Placing an order that already exists with the same content (buyer, seller, items in the
/// same order, discount) changes nothing: it is a retry. The times are not content, since a
/// retry carries its own clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlaceOrder {
    /// The pre-issued order id (also the aggregate id).
    pub order_id: OrderId,
    /// Who buys.
    pub buyer: BuyerId,
    /// Who sells every item.
    pub seller: SellerId,
    /// The lines, each a different SKU of `seller`.
    pub items: Vec<ItemRequest>,
    /// Order-level discount, spread over the items by their list totals.
    pub discount: Money,
    /// When.
    pub placed_at: DateTime<Utc>,
    /// When the order is cancelled unless paid; after `placed_at`.
    pub payment_due_at: DateTime<Utc>,
    /// The flash-sale campaign (and its bucket holding the units), for a campaign order.
    pub campaign: Option<CampaignLine>,
}

/// The payment provider confirms that transaction `txn_id` paid `amount` for this order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfirmPayment {
    /// The provider's transaction (the dedup key).
    pub txn_id: TxnId,
    /// What was paid.
    pub amount: Money,
    /// When.
    pub at: DateTime<Utc>,
}

/// Cancel an unpaid order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CancelOrder {
    /// Why.
    pub reason: CancelReason,
    /// When.
    pub at: DateTime<Utc>,
}

/// Set or change the parcel's tracking number of a paid or shipped order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateLogistics {
    /// The carrier's tracking number.
    pub tracking_number: TrackingNumber,
    /// When.
    pub at: DateTime<Utc>,
}

/// Ship a paid order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShipOrder {
    /// The tracking number; `None` keeps the one set by `UpdateLogistics` (there must be one).
    pub tracking_number: Option<TrackingNumber>,
    /// When.
    pub at: DateTime<Utc>,
}

/// The buyer confirms receipt of a shipped order, which completes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfirmReceipt {
    /// When.
    pub at: DateTime<Utc>,
}

/// Units of one order line to refund.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefundItem {
    /// The line (0-based, as in `OrderItem::line`).
    pub line: u32,
    /// Units to refund.
    pub quantity: Quantity,
}

/// Refund units of a paid order's items; each line returns its share of what was paid for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRefund {
    /// The refund's id (the dedup key): the same id with the same items changes nothing.
    pub refund_id: RefundId,
    /// Lines and units, each line at most once.
    pub items: Vec<RefundItem>,
    /// When.
    pub at: DateTime<Utc>,
}

/// Refund, in full, a payment recorded by `PaidAfterClose`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundPaidAfterClose {
    /// The refund's id (the dedup key).
    pub refund_id: RefundId,
    /// The transaction that paid after the order closed.
    pub txn_id: TxnId,
    /// When.
    pub at: DateTime<Utc>,
}

/// The payment provider paid a requested refund out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompleteRefund {
    /// The refund.
    pub refund_id: RefundId,
    /// When.
    pub at: DateTime<Utc>,
}

/// Claim a never-placed order id for a failed placement. See [`crate::PlacementRejected`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectPlacement {
    /// The order id of the failed placement.
    pub order_id: OrderId,
    /// Its buyer.
    pub buyer: BuyerId,
    /// Why it failed.
    pub reason: RejectionReason,
    /// When.
    pub at: DateTime<Utc>,
}

/// Claim an order id whose placement reserved stock but never placed nor rejected it, once the
/// reservations are older than any placement takes. Who placed it is not known (a reservation
/// does not record its buyer). See [`crate::PlacementRejected`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AbandonPlacement {
    /// The order id of the abandoned placement.
    pub order_id: OrderId,
    /// When.
    pub at: DateTime<Utc>,
}
