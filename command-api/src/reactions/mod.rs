//! Reactions to the log: what happens after an event, outside the command that caused it.
//! Each runs at least once per event through [`runner::run`] and issues idempotent commands
//! (dedup keys and aggregate rules), so repeating one changes nothing.
//!
//! - `OrderPlaced` clears the buyer's cart (never inside the placement command);
//! - `PaymentConfirmed` deducts the order's reserved stock;
//! - `OrderCancelled` releases it.

pub mod runner;
#[cfg(test)]
mod runner_tests;

use chrono::Utc;
use domain::{
    BuyerId, Cart, CartCommand, ClearCart, DeductStock, Order, OrderEvent, OrderId, ReleaseStock,
    Sku, SkuCommand,
};
use event_store::{EventMetadata, EventStore, RecordedEvent};

use crate::execute::{ExecuteError, execute, execute_with};
use runner::Reaction;

type ReactionError = Box<dyn std::error::Error + Send + Sync>;

/// The order's reactions: cart clearing and stock movements.
#[derive(Debug, Clone)]
pub struct OrderReactions {
    store: EventStore,
}

impl OrderReactions {
    /// Reactions issuing their commands to `store`.
    pub fn new(store: EventStore) -> Self {
        Self { store }
    }

    fn metadata(event: &RecordedEvent, key: String) -> EventMetadata {
        EventMetadata {
            dedup_key: Some(key),
            actor: Some("system:order-reactions".to_owned()),
            correlation_id: event.metadata.correlation_id.clone(),
            causation_id: Some(format!(
                "{}/{}/{}",
                event.aggregate_type, event.aggregate_id, event.sequence
            )),
            request_id: None,
        }
    }

    async fn clear_cart(
        &self,
        event: &RecordedEvent,
        buyer: &BuyerId,
        order_id: OrderId,
    ) -> Result<(), ReactionError> {
        let meta = Self::metadata(event, format!("clear:{order_id}"));
        let command = ClearCart {
            order_id,
            at: Utc::now(),
        };
        execute::<Cart, _>(&self.store, buyer.as_str(), None, &meta, |cart| {
            cart.decide(CartCommand::ClearCart(command.clone()))
        })
        .await
        .map(|_| ())
        .map_err(boxed)
    }

    /// Applies `command` to the stock of every SKU of the order.
    async fn move_stock(
        &self,
        event: &RecordedEvent,
        key: &str,
        command: impl Fn(OrderId) -> SkuCommand,
    ) -> Result<(), ReactionError> {
        // an order's items never change once it is placed: the state kept by this process
        // serves when it has them
        let order = match self.store.kept::<Order>(&event.aggregate_id) {
            Some(kept) if kept.aggregate.exists() => kept.aggregate,
            _ => {
                self.store
                    .load::<Order>(&event.aggregate_id)
                    .await?
                    .aggregate
            }
        };
        let Some(order_id) = order.order_id() else {
            return Ok(());
        };
        let meta = Self::metadata(event, format!("{key}:{order_id}"));
        for item in order.items() {
            execute_with(
                &self.store,
                item.sku.as_str(),
                None,
                &meta,
                |stock: &Sku| stock.decide(command(order_id)),
                |_| (),
            )
            .await
            .map_err(boxed)?;
        }
        Ok(())
    }
}

fn boxed<E: std::error::Error + Send + Sync + 'static>(err: ExecuteError<E>) -> ReactionError {
    Box::new(err)
}

impl Reaction for OrderReactions {
    fn name(&self) -> &'static str {
        "order-reactions"
    }

    async fn react(&self, event: &RecordedEvent) -> Result<(), ReactionError> {
        if event.aggregate_type != "Order" {
            return Ok(());
        }
        match event.decode::<OrderEvent>()? {
            OrderEvent::OrderPlaced(placed) => {
                self.clear_cart(event, &placed.buyer, placed.order_id).await
            }
            OrderEvent::PaymentConfirmed(_) => {
                self.move_stock(event, "deduct", |order_id| {
                    SkuCommand::DeductStock(DeductStock {
                        order_id,
                        at: Utc::now(),
                    })
                })
                .await
            }
            OrderEvent::OrderCancelled(_) => {
                self.move_stock(event, "release", |order_id| {
                    SkuCommand::ReleaseStock(ReleaseStock {
                        order_id,
                        at: Utc::now(),
                    })
                })
                .await
            }
            _ => Ok(()),
        }
    }
}
