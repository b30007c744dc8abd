//! The bodies the routes read and answer: the platform's, field for field where `loadgen`
//! reads or sends them; fields a peer has no use for (a product's title, a campaign's window)
//! are accepted and ignored.

use serde::{Deserialize, Serialize};

/// `POST /v1/products`.
#[derive(Debug, Clone, Deserialize)]
pub struct NewProduct {
    /// The SKU.
    pub sku: String,
    /// Its price in minor units.
    pub price_cents: i64,
    /// Units in stock.
    pub initial_stock: u32,
}

/// `POST /v1/campaigns`.
#[derive(Debug, Clone, Deserialize)]
pub struct NewCampaign {
    /// The campaign's SKU.
    pub sku: String,
    /// The campaign price in minor units.
    pub price_cents: i64,
    /// Units the campaign sells.
    pub stock: u32,
    /// Units one buyer may order at most.
    pub limit_per_buyer: u32,
}

/// A campaign as `POST /v1/campaigns` and `GET /v1/campaigns/{id}` answer it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Campaign {
    /// Its id.
    pub campaign_id: String,
    /// The campaign's SKU.
    pub sku: String,
    /// The campaign price in minor units.
    pub price_cents: i64,
    /// Units it started with.
    pub stock: i64,
    /// Units not reserved yet.
    pub remaining: i64,
    /// Units one buyer may order at most.
    pub limit_per_buyer: i64,
    /// Always `Running`: a peer's campaign has no window.
    pub status: &'static str,
}

/// `POST /v1/orders`.
#[derive(Debug, Clone, Deserialize)]
pub struct Placement {
    /// The id the checkout issued.
    pub order_id: String,
    /// The checkout's token (not checked by a peer).
    pub checkout_token: String,
    /// What the buyer orders.
    pub items: Vec<PlacementLine>,
    /// The campaign the order buys from, if any.
    #[serde(default)]
    pub campaign_id: Option<String>,
}

impl Placement {
    /// The lines by SKU, quantities of a SKU named twice added up, in SKU order (the order in
    /// which stock is taken, so that two placements never wait on each other's rows).
    pub fn lines(&self) -> Result<Vec<(String, u32)>, crate::PeerError> {
        let mut lines: Vec<(String, u32)> = Vec::with_capacity(self.items.len());
        for item in &self.items {
            if item.quantity == 0 {
                return Err(crate::PeerError::invalid(
                    "items",
                    "a quantity is at least 1",
                ));
            }
            match lines.iter_mut().find(|(sku, _)| *sku == item.sku) {
                Some((_, qty)) => *qty = qty.saturating_add(item.quantity),
                None => lines.push((item.sku.clone(), item.quantity)),
            }
        }
        if lines.is_empty() {
            return Err(crate::PeerError::invalid("items", "an order has a line"));
        }
        lines.sort_unstable();
        Ok(lines)
    }

    /// The quantity of a campaign order: exactly one line.
    pub fn campaign_quantity(&self) -> Result<u32, crate::PeerError> {
        match self.lines()?.as_slice() {
            [(_, qty)] => Ok(*qty),
            _ => Err(crate::PeerError::invalid(
                "items",
                "a campaign order has exactly one line",
            )),
        }
    }
}

/// One line of a placement.
#[derive(Debug, Clone, Deserialize)]
pub struct PlacementLine {
    /// The SKU.
    pub sku: String,
    /// Units.
    pub quantity: u32,
}

/// An order as a placement answers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    /// Its id.
    pub order_id: String,
    /// Who placed it.
    pub buyer_id: String,
    /// `PendingPayment` or `Paid`.
    pub status: String,
    /// What the buyer owes, in minor units.
    pub total_cents: i64,
    /// The campaign it bought from, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign_id: Option<String>,
}

/// `POST /v1/payments/notify`.
#[derive(Debug, Clone, Deserialize)]
pub struct Payment {
    /// The order paid for.
    pub order_id: String,
    /// The provider's transaction.
    pub txn_id: String,
    /// The amount paid, in minor units.
    pub amount_cents: i64,
}

/// `POST /v1/checkout`'s answer.
#[derive(Debug, Clone, Serialize)]
pub struct Checkout {
    /// A new order id: a positive 63-bit number as a decimal string, like the platform's.
    pub order_id: String,
    /// A token the peer does not check.
    pub checkout_token: String,
}

impl Checkout {
    /// A checkout with a fresh random order id.
    pub fn issue() -> Self {
        let order_id = (uuid::Uuid::new_v4().as_u128() as u64 >> 1).to_string();
        Self {
            checkout_token: format!("peer-{order_id}"),
            order_id,
        }
    }
}
