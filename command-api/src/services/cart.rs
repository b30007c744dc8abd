//! The buyer's cart. It is cleared by a reaction to `OrderPlaced`, never by the placement.

use domain::{AddToCart, BuyerId, Cart, CartCommand, CartError, Quantity, RemoveFromCart, SkuId};
use event_store::{EventMetadata, ExecuteError, Executed};
use shards::Stores;

use super::Clock;

/// The cart use cases.
#[derive(Clone, Debug)]
pub struct Carts {
    store: Stores,
    clock: Clock,
}

impl Carts {
    /// Carts over `store`.
    pub fn new(store: Stores, clock: Clock) -> Self {
        Self { store, clock }
    }

    /// Sets the units of `sku` in `buyer`'s cart.
    pub async fn set_item(
        &self,
        buyer: &BuyerId,
        sku: SkuId,
        quantity: Quantity,
        meta: &EventMetadata,
    ) -> Result<Executed<Cart>, ExecuteError<CartError>> {
        let command = CartCommand::AddToCart(AddToCart {
            sku,
            quantity,
            at: self.clock.now(),
        });
        self.run(buyer, command, meta).await
    }

    /// Removes `sku` from `buyer`'s cart.
    pub async fn remove_item(
        &self,
        buyer: &BuyerId,
        sku: SkuId,
        meta: &EventMetadata,
    ) -> Result<Executed<Cart>, ExecuteError<CartError>> {
        let command = CartCommand::RemoveFromCart(RemoveFromCart {
            sku,
            at: self.clock.now(),
        });
        self.run(buyer, command, meta).await
    }

    async fn run(
        &self,
        buyer: &BuyerId,
        command: CartCommand,
        meta: &EventMetadata,
    ) -> Result<Executed<Cart>, ExecuteError<CartError>> {
        self.store
            .execute::<Cart, _>(buyer.as_str(), None, meta, |cart| {
                cart.decide(command.clone())
            })
            .await
    }
}
