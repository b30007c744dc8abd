//! What the API answers with: JSON views of aggregates. Ids are strings (an order id is a
//! decimal string, as JavaScript loses precision past 2^53); money is integer cents.

use chrono::{DateTime, Utc};
use domain::{Cart, Order, Product, RefundKind, Sku};
use serde::Serialize;
use utoipa::ToSchema;

/// An order as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrderView {
    /// Order id (decimal string).
    pub order_id: String,
    /// `PendingPayment`, `Paid`, `Shipped`, `Completed`, `Cancelled`, `Refunding`, `Refunded`.
    pub status: String,
    /// Buyer id.
    pub buyer_id: String,
    /// Seller id.
    pub seller_id: String,
    /// Items with the product snapshot they were bought at.
    pub items: Vec<OrderItemView>,
    /// Sum of the items' list prices.
    pub list_total_cents: i64,
    /// Order discount, spread over the items.
    pub discount_cents: i64,
    /// What the buyer pays.
    pub total_cents: i64,
    /// When it was placed.
    pub placed_at: Option<DateTime<Utc>>,
    /// When an unpaid order is cancelled.
    pub payment_due_at: Option<DateTime<Utc>>,
    /// The payment, once paid.
    pub payment: Option<PaymentView>,
    /// Why it was cancelled.
    pub cancel_reason: Option<String>,
    /// The carrier's tracking number.
    pub tracking_number: Option<String>,
    /// Refunds, open and completed.
    pub refunds: Vec<RefundView>,
    /// Money refunded so far.
    pub refunded_cents: i64,
    /// The order's version, also its ETag: send it in `If-Match` to update.
    pub version: u64,
}

/// One item of an order.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrderItemView {
    /// Line number (0-based), used to refund items.
    pub line: u32,
    /// SKU.
    pub sku: String,
    /// Product title when bought.
    pub title: String,
    /// Product snapshot version when bought.
    pub product_version: u32,
    /// Unit price when bought.
    pub unit_price_cents: i64,
    /// Units.
    pub quantity: u32,
    /// Unit price times quantity.
    pub list_total_cents: i64,
    /// This item's share of the order discount.
    pub discount_cents: i64,
    /// What the buyer paid for this item.
    pub paid_cents: i64,
}

/// A payment.
#[derive(Debug, Serialize, ToSchema)]
pub struct PaymentView {
    /// The provider's transaction id.
    pub txn_id: String,
    /// Amount paid.
    pub amount_cents: i64,
    /// When.
    pub paid_at: DateTime<Utc>,
}

/// A refund.
#[derive(Debug, Serialize, ToSchema)]
pub struct RefundView {
    /// Refund number.
    pub refund_id: String,
    /// `items`, or `paid_after_close` for a payment that arrived after the order closed.
    pub kind: String,
    /// Refunded lines: (line, quantity, amount).
    pub lines: Vec<RefundLineView>,
    /// Amount refunded.
    pub amount_cents: i64,
    /// When it was requested.
    pub requested_at: DateTime<Utc>,
    /// When the provider confirmed it.
    pub completed_at: Option<DateTime<Utc>>,
}

/// One refunded line.
#[derive(Debug, Serialize, ToSchema)]
pub struct RefundLineView {
    /// Line number.
    pub line: u32,
    /// Units refunded.
    pub quantity: u32,
    /// Amount refunded for them.
    pub amount_cents: i64,
}

impl OrderView {
    /// The view of a placed order at `version`.
    pub fn of(order: &Order, version: u64) -> Self {
        Self {
            order_id: order
                .order_id()
                .map(|id| id.to_string())
                .unwrap_or_default(),
            status: order
                .status()
                .map(|s| s.as_str().to_owned())
                .unwrap_or_default(),
            buyer_id: order.buyer().map(|b| b.to_string()).unwrap_or_default(),
            seller_id: order.seller().map(|s| s.to_string()).unwrap_or_default(),
            items: order
                .items()
                .iter()
                .map(|item| OrderItemView {
                    line: item.line,
                    sku: item.sku.to_string(),
                    title: item.snapshot.title.as_str().to_owned(),
                    product_version: item.snapshot.version,
                    unit_price_cents: item.snapshot.unit_price.minor(),
                    quantity: item.quantity.get(),
                    list_total_cents: item.list_total.minor(),
                    discount_cents: item.discount.minor(),
                    paid_cents: item.paid_amount.minor(),
                })
                .collect(),
            list_total_cents: order.list_total().map_or(0, |m| m.minor()),
            discount_cents: order.discount().map_or(0, |m| m.minor()),
            total_cents: order.total().map_or(0, |m| m.minor()),
            placed_at: order.placed_at(),
            payment_due_at: order.payment_due_at(),
            payment: order.payment().map(|p| PaymentView {
                txn_id: p.txn_id.to_string(),
                amount_cents: p.amount.minor(),
                paid_at: p.at,
            }),
            cancel_reason: order.cancel_reason().map(|r| format!("{r:?}")),
            tracking_number: order.tracking_number().map(|t| t.to_string()),
            refunds: order
                .refunds()
                .iter()
                .map(|r| RefundView {
                    refund_id: r.refund_id.to_string(),
                    kind: match r.kind {
                        RefundKind::Items => "items",
                        RefundKind::PaidAfterClose => "paid_after_close",
                    }
                    .to_owned(),
                    lines: r
                        .lines
                        .iter()
                        .map(|l| RefundLineView {
                            line: l.line,
                            quantity: l.quantity.get(),
                            amount_cents: l.amount.minor(),
                        })
                        .collect(),
                    amount_cents: r.amount.minor(),
                    requested_at: r.requested_at,
                    completed_at: r.completed_at,
                })
                .collect(),
            refunded_cents: order.refunded_amount().minor(),
            version,
        }
    }
}

/// A product and its stock.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProductView {
    /// SKU.
    pub sku: String,
    /// Seller id.
    pub seller_id: String,
    /// Title.
    pub title: String,
    /// Current unit price.
    pub price_cents: i64,
    /// Snapshot version: changes with every price change; orders name it.
    pub product_version: u32,
    /// Version of the product stream (its ETag).
    pub version: u64,
}

impl ProductView {
    /// The view of an existing product.
    pub fn of(product: &Product, version: u64) -> Option<Self> {
        let snapshot = product.snapshot()?;
        Some(Self {
            sku: snapshot.sku.to_string(),
            seller_id: snapshot.seller.to_string(),
            title: snapshot.title.as_str().to_owned(),
            price_cents: snapshot.unit_price.minor(),
            product_version: snapshot.version,
            version,
        })
    }
}

/// Stock of one SKU.
#[derive(Debug, Serialize, ToSchema)]
pub struct StockView {
    /// SKU.
    pub sku: String,
    /// Units that can be ordered.
    pub available: u64,
    /// Units held by unpaid orders.
    pub reserved: u64,
    /// Units sold (paid).
    pub sold: u64,
    /// Version of the SKU stream.
    pub version: u64,
}

impl StockView {
    /// The view of a SKU's stock.
    pub fn of(sku: &Sku, version: u64) -> Self {
        Self {
            sku: sku.sku().map(|s| s.to_string()).unwrap_or_default(),
            available: sku.available(),
            reserved: sku.reserved(),
            sold: sku.sold(),
            version,
        }
    }
}

/// A buyer's cart.
#[derive(Debug, Serialize, ToSchema)]
pub struct CartView {
    /// Lines of the cart.
    pub items: Vec<CartLineView>,
    /// Version of the cart stream.
    pub version: u64,
}

/// One line of a cart.
#[derive(Debug, Serialize, ToSchema)]
pub struct CartLineView {
    /// SKU.
    pub sku: String,
    /// Units.
    pub quantity: u32,
}

impl CartView {
    /// The view of a cart.
    pub fn of(cart: &Cart, version: u64) -> Self {
        Self {
            items: cart
                .items()
                .map(|(sku, quantity)| CartLineView {
                    sku: sku.to_string(),
                    quantity: quantity.get(),
                })
                .collect(),
            version,
        }
    }
}
