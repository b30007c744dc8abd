//! What the API answers with: JSON views of aggregates. Ids are strings (an order id is a
//! decimal string, as JavaScript loses precision past 2^53); money is integer cents.

use domain::{Cart, Order, Product, Sku};
use projections::OrderDocument;
use serde::Serialize;
use utoipa::ToSchema;

/// An order answer: the same document the query side serves (`projections::OrderDocument`),
/// with the order's version as its ETag.
pub fn order_answer(
    status: actix_web::http::StatusCode,
    order: &Order,
    version: u64,
) -> actix_web::HttpResponse {
    match OrderDocument::of(order, version) {
        Some(document) => crate::http::versioned(status, version, &document),
        None => {
            actix_web::ResponseError::error_response(&crate::problem::Problem::not_found("order"))
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
