//! Why an order refused a command. A refused command changes nothing.

use crate::{Money, OrderStatus, RefundId, SkuId, TxnId};

/// Why the `Order` aggregate refused a command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrderError {
    /// A placement was rejected for a order that exists.
    #[error("the order was already placed")]
    AlreadyPlaced,
    /// The order id's placement failed earlier; it cannot be placed any more.
    #[error("this order id's placement was rejected; check out again")]
    PlacementWasRejected,
    /// A command other than `PlaceOrder` for an order that does not exist.
    #[error("order not found")]
    NotFound,
    /// `PlaceOrder` without items.
    #[error("an order needs at least one item")]
    NoItems,
    /// `PlaceOrder` with more lines than allowed.
    #[error("an order may have at most {max} items, got {got}")]
    TooManyItems {
        /// The limit ([`crate::ORDER_ITEMS_MAX`]).
        max: usize,
        /// Lines asked for.
        got: usize,
    },
    /// An item's product is sold by another seller than the order's.
    #[error("SKU {sku} is not sold by this order's seller")]
    SellerMismatch {
        /// The item's SKU.
        sku: SkuId,
    },
    /// The same SKU on two lines.
    #[error("SKU {sku} appears on more than one line")]
    DuplicateSku {
        /// The repeated SKU.
        sku: SkuId,
    },
    /// An order-level discount larger than the order's list total.
    #[error("discount {discount} exceeds the list total {list_total}")]
    DiscountExceedsListTotal {
        /// The discount asked for.
        discount: Money,
        /// The order's list total.
        list_total: Money,
    },
    /// A payment deadline that is not after the placement time.
    #[error("the payment deadline must be after the time the order is placed")]
    PaymentDueNotAfterPlacement,
    /// An amount does not fit in the money type.
    #[error("amount overflow")]
    Overflow,
    /// `PlaceOrder` for an existing order with other content: not a retry.
    #[error("this order id was already placed with different content")]
    AlreadyPlacedWithDifferentContent,
    /// A payment of another amount than the order's total.
    #[error("payment amount mismatch: expected {expected}, got {got}")]
    AmountMismatch {
        /// The order's total.
        expected: Money,
        /// What the payment says.
        got: Money,
    },
    /// A cancellation of an order that is paid (or later); it stays as it is.
    #[error("an order that is {status} cannot be cancelled")]
    NotCancellable {
        /// The order's status.
        status: OrderStatus,
    },
    /// A command the order's status does not allow.
    #[error("{command} is not allowed for an order that is {status}")]
    WrongStatus {
        /// The command's name, e.g. "ShipOrder".
        command: &'static str,
        /// The order's status.
        status: OrderStatus,
    },
    /// `ShipOrder` without a tracking number, and none was set before.
    #[error("shipping needs a tracking number")]
    MissingTrackingNumber,
    /// `RequestRefund` without items.
    #[error("a refund needs at least one item")]
    NoRefundItems,
    /// A refund of a line the order does not have.
    #[error("the order has no line {line}")]
    UnknownLine {
        /// The line asked for.
        line: u32,
    },
    /// The same line twice in one refund.
    #[error("line {line} appears more than once in the refund")]
    DuplicateRefundLine {
        /// The repeated line.
        line: u32,
    },
    /// A refund of more units than are left to refund on a line.
    #[error("line {line} has {remaining} units left to refund, {requested} requested")]
    RefundExceedsQuantity {
        /// The line.
        line: u32,
        /// Units bought minus units refunded or being refunded.
        remaining: u32,
        /// Units asked for.
        requested: u32,
    },
    /// A refund id already used for a different refund.
    #[error("refund id {refund_id} was already used for a different refund")]
    RefundIdReused {
        /// The refund id.
        refund_id: RefundId,
    },
    /// `RefundPaidAfterClose` for a transaction that did not pay after close.
    #[error("no payment after close by transaction {txn_id}")]
    UnknownPaymentAfterClose {
        /// The transaction.
        txn_id: TxnId,
    },
    /// `RefundPaidAfterClose` for a payment already refunded under another refund id.
    #[error("the payment after close by transaction {txn_id} is already being refunded")]
    PaymentAfterCloseAlreadyRefunded {
        /// The transaction.
        txn_id: TxnId,
    },
    /// `CompleteRefund` for a refund that was never requested.
    #[error("refund {refund_id} not found")]
    UnknownRefund {
        /// The refund id.
        refund_id: RefundId,
    },
}
