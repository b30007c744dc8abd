//! The order as every order view stores it: a JSON document and its content hash.

use chrono::{DateTime, Utc};
use domain::{Order, OrderStatus, RefundKind};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use utoipa::openapi::schema::{Object, ObjectBuilder, Type};

/// Every status an order can be in, as the views store it (`OrderDocument::status`).
pub const ORDER_STATUSES: [OrderStatus; 7] = [
    OrderStatus::PendingPayment,
    OrderStatus::Paid,
    OrderStatus::Shipped,
    OrderStatus::Completed,
    OrderStatus::Cancelled,
    OrderStatus::Refunding,
    OrderStatus::Refunded,
];

/// The OpenAPI schema of an order's status: one of [`ORDER_STATUSES`], by name.
pub fn order_status_schema() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(ORDER_STATUSES.map(OrderStatus::as_str)))
        .description(Some("An order's status"))
        .build()
}

/// The name of a refund kind, as [`RefundDocument::kind`] holds it.
const fn refund_kind_name(kind: RefundKind) -> &'static str {
    match kind {
        RefundKind::Items => "items",
        RefundKind::PaidAfterClose => "paid_after_close",
    }
}

/// The OpenAPI schema of [`RefundDocument::kind`].
fn refund_kind_schema() -> Object {
    let kinds = [RefundKind::Items, RefundKind::PaidAfterClose];
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(kinds.map(refund_kind_name)))
        .description(Some(
            "`items`, or `paid_after_close` for a payment that arrived after the order closed",
        ))
        .build()
}

/// An order as the read side shows it. Ids are strings (an order id is a decimal string, as
/// JavaScript loses precision past 2^53); money is integer cents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OrderDocument {
    /// Order id (decimal string).
    pub order_id: String,
    /// `PendingPayment`, `Paid`, `Shipped`, `Completed`, `Cancelled`, `Refunding`, `Refunded`.
    #[schema(schema_with = order_status_schema)]
    pub status: String,
    /// Buyer id.
    pub buyer_id: String,
    /// Seller id.
    pub seller_id: String,
    /// Items with the product snapshot they were bought at.
    pub items: Vec<OrderItemDocument>,
    /// Sum of the items' list prices.
    pub list_total_cents: i64,
    /// Order discount, spread over the items.
    pub discount_cents: i64,
    /// What the buyer pays.
    pub total_cents: i64,
    /// When it was placed.
    #[serde(with = "domain::timestamp::option", default)]
    pub placed_at: Option<DateTime<Utc>>,
    /// When an unpaid order is cancelled.
    #[serde(with = "domain::timestamp::option", default)]
    pub payment_due_at: Option<DateTime<Utc>>,
    /// The payment, once paid.
    pub payment: Option<PaymentDocument>,
    /// Why it was cancelled.
    pub cancel_reason: Option<String>,
    /// The carrier's tracking number.
    pub tracking_number: Option<String>,
    /// Refunds, open and completed.
    pub refunds: Vec<RefundDocument>,
    /// Money refunded from the order's payment so far.
    pub refunded_cents: i64,
    /// Money paid after the order closed and not yet refunded.
    pub after_close_owed_cents: i64,
    /// The order's version (the number of its events), also its ETag.
    pub version: u64,
}

/// One item of an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OrderItemDocument {
    /// Line number (0-based).
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

/// The payment that paid an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PaymentDocument {
    /// The provider's transaction id.
    pub txn_id: String,
    /// Amount paid.
    pub amount_cents: i64,
    /// When.
    #[serde(with = "domain::timestamp")]
    pub paid_at: DateTime<Utc>,
}

/// A refund.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RefundDocument {
    /// Refund number.
    pub refund_id: String,
    /// `items`, or `paid_after_close` for a payment that arrived after the order closed.
    #[schema(schema_with = refund_kind_schema)]
    pub kind: String,
    /// Amount refunded.
    pub amount_cents: i64,
    /// Units refunded per line: `(line, quantity, amount_cents)`.
    pub lines: Vec<(u32, u32, i64)>,
    /// When it was requested.
    #[serde(with = "domain::timestamp")]
    pub requested_at: DateTime<Utc>,
    /// When the provider confirmed it.
    #[serde(with = "domain::timestamp::option", default)]
    pub completed_at: Option<DateTime<Utc>>,
}

impl OrderDocument {
    /// The document of a placed order at `version`; `None` before the order exists.
    pub fn of(order: &Order, version: u64) -> Option<Self> {
        Some(Self {
            order_id: order.order_id()?.to_string(),
            status: order.status()?.as_str().to_owned(),
            buyer_id: order.buyer()?.to_string(),
            seller_id: order.seller()?.to_string(),
            items: order
                .items()
                .iter()
                .map(|item| OrderItemDocument {
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
            payment: order.payment().map(|p| PaymentDocument {
                txn_id: p.txn_id.to_string(),
                amount_cents: p.amount.minor(),
                paid_at: p.at,
            }),
            cancel_reason: order.cancel_reason().map(|r| r.to_string()),
            tracking_number: order.tracking_number().map(|t| t.to_string()),
            refunds: order
                .refunds()
                .iter()
                .map(|r| RefundDocument {
                    refund_id: r.refund_id.to_string(),
                    kind: refund_kind_name(r.kind).to_owned(),
                    amount_cents: r.amount.minor(),
                    lines: r
                        .lines
                        .iter()
                        .map(|l| (l.line, l.quantity.get(), l.amount.minor()))
                        .collect(),
                    requested_at: r.requested_at,
                    completed_at: r.completed_at,
                })
                .collect(),
            refunded_cents: order.refunded_amount().minor(),
            after_close_owed_cents: order.after_close_amount_owed().minor(),
            version,
        })
    }

    /// SHA-256 (hex) of the document's canonical JSON (fields in declaration order), so a
    /// document read back hashes the same once parsed, whatever its column did to its key
    /// order.
    pub fn content_hash(&self) -> String {
        // serialising a struct of strings, numbers and timestamps cannot fail
        let digest = Sha256::digest(serde_json::to_vec(self).unwrap_or_default());
        // into a buffer: `hex::encode` builds its text a char at a time. 32 bytes fill 64 hex
        // digits exactly, and hex digits are ASCII, so the fallback is never taken.
        let mut text = [0_u8; 64];
        hex::encode_to_slice(digest, &mut text)
            .ok()
            .and_then(|()| std::str::from_utf8(&text).ok())
            .map_or_else(|| hex::encode(digest), str::to_owned)
    }
}

/// Microseconds since the Unix epoch: the sort key of the order lists.
pub(crate) fn micros(at: Option<DateTime<Utc>>) -> i64 {
    at.map_or(0, |at| at.timestamp_micros())
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use cqrs_es::Aggregate;
    use domain::{
        BuyerId, Money, OrderEvent, OrderId, OrderItem, OrderPlaced, PaymentConfirmed,
        ProductSnapshot, ProductTitle, Quantity, SellerId, SkuId, TxnId,
    };

    use super::*;

    /// A paid order whose times take every fraction width chrono writes.
    fn paid_order() -> Order {
        let price = Money::from_minor(1_250).unwrap();
        let sku = SkuId::parse("tea-500g").unwrap();
        let seller = SellerId::parse("shop-1").unwrap();
        let placed_at = Utc.timestamp_opt(1_796_287_322, 123_456_789).unwrap();
        let mut order = Order::default();
        order.apply(OrderEvent::OrderPlaced(OrderPlaced {
            order_id: OrderId::new(4_242).unwrap(),
            buyer: BuyerId::parse("b-1").unwrap(),
            seller: seller.clone(),
            items: vec![OrderItem {
                line: 0,
                sku: sku.clone(),
                quantity: Quantity::new(2).unwrap(),
                snapshot: ProductSnapshot {
                    sku,
                    seller,
                    title: ProductTitle::parse("Tea \"Earl\" Grey 茶").unwrap(),
                    unit_price: price,
                    version: 1,
                },
                list_total: Money::from_minor(2_500).unwrap(),
                discount: Money::zero(),
                paid_amount: Money::from_minor(2_500).unwrap(),
            }],
            list_total: Money::from_minor(2_500).unwrap(),
            discount: Money::zero(),
            total: Money::from_minor(2_500).unwrap(),
            placed_at,
            payment_due_at: Utc.timestamp_opt(1_796_288_222, 250_000_000).unwrap(),
            campaign: None,
        }));
        order.apply(OrderEvent::PaymentConfirmed(PaymentConfirmed {
            txn_id: TxnId::parse("T-1").unwrap(),
            amount: Money::from_minor(2_500).unwrap(),
            at: Utc.timestamp_opt(1_796_287_400, 5_000).unwrap(),
        }));
        order
    }

    /// The document is the query API's answer and its hash is stored with every order row, so
    /// its form is pinned by a checked-in fixture (ADR 31): read with today's code, it is the
    /// document of the paid order, and it writes back byte for byte. `UPDATE_FIXTURES=1` writes
    /// the fixture when it is missing, never over one that exists.
    #[test]
    fn the_order_document_fixture_reads_and_writes_back_byte_for_byte() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/order_document.json");
        let doc = OrderDocument::of(&paid_order(), 2).unwrap();
        let mut written = serde_json::to_string_pretty(&doc).unwrap();
        written.push('\n');
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(_) if std::env::var_os("UPDATE_FIXTURES").is_some_and(|v| v == "1") => {
                std::fs::write(&path, &written).unwrap();
                written.clone()
            }
            Err(err) => panic!(
                "no fixture {} ({err}): run `UPDATE_FIXTURES=1 cargo test -p projections --lib \
                 document`, review the new file and commit it",
                path.display()
            ),
        };
        assert_eq!(text, written, "the order document's form changed");
        let read: OrderDocument = serde_json::from_str(&text).unwrap();
        assert_eq!(read, doc);
        let mut back = serde_json::to_string_pretty(&read).unwrap();
        back.push('\n');
        assert_eq!(back, text);
        assert_eq!(read.content_hash(), doc.content_hash());
    }

    /// The hash stored with every order row: a build that wrote the document's JSON or its hex
    /// otherwise would see every row written before it as changed (`orders reconcile`).
    #[test]
    fn the_content_hash_is_the_one_rows_were_stored_with() {
        let doc = OrderDocument::of(&paid_order(), 2).unwrap();
        assert_eq!(
            doc.content_hash(),
            "d893f9026e9176ba26544d5a41eac615515035b938b396af43496561a598f212"
        );
    }
}
