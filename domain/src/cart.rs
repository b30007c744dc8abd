//! The `Cart` aggregate: a buyer's shopping cart; its aggregate id is the buyer id.
//!
//! `AddToCart` *sets* a line's quantity rather than adding to it, so a retried or
//! double-clicked request cannot double the quantity; adding a SKU at the quantity it already
//! has changes nothing. The cart is cleared by an event handler once an order is placed; the
//! cart remembers the orders it was cleared for, so that a redelivered `OrderPlaced` clears
//! nothing the buyer added since.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};

use crate::{OrderId, Quantity, SkuId};

/// Most distinct SKUs in one cart.
pub const CART_ITEMS_MAX: usize = 100;

/// A command to the `Cart` aggregate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CartCommand {
    /// Put a SKU in the cart, or change its quantity.
    AddToCart(AddToCart),
    /// Take a SKU out of the cart.
    RemoveFromCart(RemoveFromCart),
    /// Empty the cart because an order was placed.
    ClearCart(ClearCart),
}

/// Put `quantity` units of a SKU in the cart: the line's quantity becomes `quantity`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddToCart {
    /// The SKU.
    pub sku: SkuId,
    /// The line's quantity from now on.
    pub quantity: Quantity,
    /// When.
    pub at: DateTime<Utc>,
}

/// Take a SKU out of the cart; a SKU that is not in it changes nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoveFromCart {
    /// The SKU.
    pub sku: SkuId,
    /// When.
    pub at: DateTime<Utc>,
}

/// Empty the cart because order `order_id` was placed; nothing changes if it is empty or was
/// already cleared for that order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClearCart {
    /// The order just placed (the dedup key).
    pub order_id: OrderId,
    /// When.
    pub at: DateTime<Utc>,
}

/// An event of the `Cart` aggregate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CartEvent {
    /// A line was added or its quantity changed.
    CartItemAdded(CartItemAdded),
    /// A line was removed.
    CartItemRemoved(CartItemRemoved),
    /// The cart was emptied after an order was placed.
    CartCleared(CartCleared),
}

/// A line was added or its quantity changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CartItemAdded {
    /// The SKU.
    pub sku: SkuId,
    /// The line's quantity from now on (not an increment).
    pub quantity: Quantity,
    /// When.
    pub at: DateTime<Utc>,
}

/// A line was removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CartItemRemoved {
    /// The SKU.
    pub sku: SkuId,
    /// When.
    pub at: DateTime<Utc>,
}

/// The cart was emptied after an order was placed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CartCleared {
    /// The order that was placed.
    pub order_id: OrderId,
    /// When.
    pub at: DateTime<Utc>,
}

impl DomainEvent for CartEvent {
    fn event_type(&self) -> String {
        match self {
            Self::CartItemAdded(_) => "CartItemAdded",
            Self::CartItemRemoved(_) => "CartItemRemoved",
            Self::CartCleared(_) => "CartCleared",
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        "1.0".to_owned()
    }
}

/// Why the `Cart` aggregate refused a command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CartError {
    /// A new SKU for a cart that already holds [`CART_ITEMS_MAX`] SKUs.
    #[error("a cart holds at most {CART_ITEMS_MAX} different SKUs")]
    CartFull,
}

/// The `Cart` aggregate: the lines of a buyer's cart. Every buyer has one, empty at first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cart {
    items: BTreeMap<SkuId, Quantity>,
    cleared_for: BTreeSet<OrderId>,
}

impl Cart {
    /// The lines, by SKU.
    pub fn items(&self) -> impl Iterator<Item = (&SkuId, Quantity)> {
        self.items.iter().map(|(sku, quantity)| (sku, *quantity))
    }

    /// The quantity of a SKU in the cart.
    pub fn quantity(&self, sku: &SkuId) -> Option<Quantity> {
        self.items.get(sku).copied()
    }

    /// Whether the cart is empty.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Decides what a command changes, without changing anything.
    pub fn decide(&self, command: CartCommand) -> Result<Vec<CartEvent>, CartError> {
        match command {
            CartCommand::AddToCart(command) => {
                match self.items.get(&command.sku) {
                    Some(quantity) if *quantity == command.quantity => return Ok(vec![]),
                    None if self.items.len() >= CART_ITEMS_MAX => {
                        return Err(CartError::CartFull);
                    }
                    _ => {}
                }
                Ok(vec![CartEvent::CartItemAdded(CartItemAdded {
                    sku: command.sku,
                    quantity: command.quantity,
                    at: command.at,
                })])
            }
            CartCommand::RemoveFromCart(command) => {
                if !self.items.contains_key(&command.sku) {
                    return Ok(vec![]);
                }
                Ok(vec![CartEvent::CartItemRemoved(CartItemRemoved {
                    sku: command.sku,
                    at: command.at,
                })])
            }
            CartCommand::ClearCart(command) => {
                if self.items.is_empty() || self.cleared_for.contains(&command.order_id) {
                    return Ok(vec![]);
                }
                Ok(vec![CartEvent::CartCleared(CartCleared {
                    order_id: command.order_id,
                    at: command.at,
                })])
            }
        }
    }
}

impl Aggregate for Cart {
    const TYPE: &'static str = "Cart";
    type Command = CartCommand;
    type Event = CartEvent;
    type Error = CartError;
    type Services = ();

    async fn handle(
        &mut self,
        command: CartCommand,
        _services: &(),
        sink: &EventSink<Self>,
    ) -> Result<(), CartError> {
        for event in self.decide(command)? {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: CartEvent) {
        match event {
            CartEvent::CartItemAdded(e) => {
                self.items.insert(e.sku, e.quantity);
            }
            CartEvent::CartItemRemoved(e) => {
                self.items.remove(&e.sku);
            }
            CartEvent::CartCleared(e) => {
                self.items.clear();
                self.cleared_for.insert(e.order_id);
            }
        }
    }
}
