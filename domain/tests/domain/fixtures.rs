//! Small constructors for test data. Times are minutes after a fixed instant.

use chrono::{DateTime, Duration, TimeZone, Utc};
use domain::{
    BuyerId, Money, OrderId, ProductSnapshot, ProductTitle, Quantity, RefundId, SellerId, SkuId,
    TrackingNumber, TxnId,
};

pub(crate) fn at(minute: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0)
        .single()
        .expect("valid instant")
        + Duration::minutes(minute)
}

pub(crate) fn money(minor: i64) -> Money {
    Money::from_minor(minor).expect("valid money")
}

pub(crate) fn qty(units: u32) -> Quantity {
    Quantity::new(units).expect("valid quantity")
}

pub(crate) fn order_id(id: u64) -> OrderId {
    OrderId::new(id).expect("valid order id")
}

pub(crate) fn sku(id: &str) -> SkuId {
    SkuId::parse(id).expect("valid SKU id")
}

pub(crate) fn seller(id: &str) -> SellerId {
    SellerId::parse(id).expect("valid seller id")
}

pub(crate) fn buyer(id: &str) -> BuyerId {
    BuyerId::parse(id).expect("valid buyer id")
}

pub(crate) fn txn(id: &str) -> TxnId {
    TxnId::parse(id).expect("valid transaction id")
}

pub(crate) fn refund_id(id: &str) -> RefundId {
    RefundId::parse(id).expect("valid refund id")
}

pub(crate) fn tracking(number: &str) -> TrackingNumber {
    TrackingNumber::parse(number).expect("valid tracking number")
}

pub(crate) fn title(text: &str) -> ProductTitle {
    ProductTitle::parse(text).expect("valid title")
}

/// Version 1 of a product of seller "s-1".
pub(crate) fn snapshot(sku_id: &str, unit_price: i64) -> ProductSnapshot {
    ProductSnapshot {
        sku: sku(sku_id),
        seller: seller("s-1"),
        title: title(&format!("Product {sku_id}")),
        unit_price: money(unit_price),
        version: 1,
    }
}
