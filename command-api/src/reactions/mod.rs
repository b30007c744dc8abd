//! Reactions to the log: what happens after an event, outside the command that caused it.
//! Each runs at least once per event through [`runner::run`] and issues idempotent commands
//! (dedup keys and aggregate rules), so repeating one changes nothing.
//!
//! - `OrderPlaced` clears the buyer's cart (never inside the placement command); with NATS,
//!   the JetStream consumer [`cart_consumer`] does it instead;
//! - `PaymentConfirmed` deducts the order's reserved stock;
//! - `OrderCancelled` releases it (a flash-sale order's units are its campaign's bucket's, and
//!   its buyer's claim on the campaign's limit is returned too: [`campaign`]);
//! - `PlacementRejected` releases every reservation still held for the order id
//!   ([`placement::PlacementReactions`], which keeps the [`open_reservations`] table), and
//!   reservations that no order took within `abandoned_placement_secs` are released by the
//!   [`placement_sweeper`] (ADR 32).
//!
//! A batch's orders are handled at once, up to [`ORDERS_AT_ONCE_MAX`], each order's events in
//! commit order: one at a time, every command waited for its durable write before the next
//! began, and under place-pay the reaction fell ever further behind the placements.
//!
//! The carts of a batch's buyers are read once, in one statement, after the placements were
//! written; only a placement whose buyer's cart then held something to clear runs the clear
//! command. Most orders are placed from an empty cart (the items come in the placement), and
//! one read per order to decide nothing was a third of the statements under place-pay.

mod campaign;
pub mod cart_consumer;
pub mod open_reservations;
#[cfg(test)]
mod order_tests;
pub mod placement;
pub mod placement_sweeper;
pub mod runner;
#[cfg(test)]
mod runner_tests;

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::Arc;

use chrono::Utc;
use cqrs_es::Aggregate;
use domain::{
    BuyerId, Cart, CartCommand, ClearCart, DeductStock, Order, OrderEvent, OrderId, ReleaseStock,
    Sku, SkuCommand,
};
use event_store::{EventMetadata, Loaded, RecordedEvent};
use futures::{StreamExt, TryStreamExt};
use shards::Stores;

use event_store::ExecuteError;
use runner::Reaction;

type ReactionError = Box<dyn std::error::Error + Send + Sync>;
/// Buyers' carts by buyer, as one read of the log found them.
type Carts = HashMap<String, Loaded<Cart>>;

/// Orders of one batch whose events are handled at once.
pub const ORDERS_AT_ONCE_MAX: usize = 64;

/// The order's reactions: cart clearing and stock movements.
#[derive(Debug, Clone)]
pub struct OrderReactions {
    store: Stores,
    clears_carts: bool,
}

impl OrderReactions {
    /// Reactions issuing their commands to `store`.
    pub fn new(store: Stores) -> Self {
        Self {
            store,
            clears_carts: true,
        }
    }

    /// The same reactions but the cart clearing, which the JetStream consumer does instead
    /// ([`cart_consumer`]) when the platform runs with NATS.
    pub fn without_cart_clearing(self) -> Self {
        Self {
            clears_carts: false,
            ..self
        }
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
            request_digest: None,
        }
    }

    async fn clear_cart(
        &self,
        event: &RecordedEvent,
        buyer: &BuyerId,
        order_id: OrderId,
    ) -> Result<(), ReactionError> {
        let meta = Self::metadata(event, clear_cart_key(order_id));
        self.clear_cart_with(&meta, buyer, order_id).await
    }

    /// Clears `buyer`'s cart for the placement of `order_id`, with `meta` (whose dedup key is
    /// [`clear_cart_key`]: one clearing per placement, however often it is asked for).
    pub(crate) async fn clear_cart_with(
        &self,
        meta: &EventMetadata,
        buyer: &BuyerId,
        order_id: OrderId,
    ) -> Result<(), ReactionError> {
        let command = ClearCart {
            order_id,
            at: Utc::now(),
        };
        self.store
            .execute::<Cart, _>(buyer.as_str(), None, meta, |cart| {
                cart.decide(CartCommand::ClearCart(command.clone()))
            })
            .await
            .map(|_| ())
            .map_err(boxed)
    }

    /// The carts of the buyers who placed the orders of `decoded` (a batch's order events), in
    /// one read: a placement whose buyer's cart is not among them has nothing to clear.
    async fn carts_of_placements(
        &self,
        decoded: &[Option<OrderEvent>],
    ) -> Result<Carts, ReactionError> {
        let mut buyers: Vec<&str> = decoded
            .iter()
            .filter_map(|event| match event {
                Some(OrderEvent::OrderPlaced(placed)) => Some(placed.buyer.as_str()),
                _ => None,
            })
            .collect();
        buyers.sort_unstable();
        buyers.dedup();
        if buyers.is_empty() {
            return Ok(Carts::new());
        }
        Ok(self.store.load_many::<Cart>(&buyers).await?)
    }

    /// Acts on `event`, decoded as `order_event`. With `carts` (the batch's read of its
    /// buyers' carts, made after its placements were written), a placement clears the cart
    /// only when that read found something to clear: the others would load their cart only to
    /// decide nothing.
    async fn act(
        &self,
        event: &RecordedEvent,
        order_event: &OrderEvent,
        carts: Option<&Carts>,
    ) -> Result<(), ReactionError> {
        match order_event {
            OrderEvent::OrderPlaced(_) if !self.clears_carts => Ok(()),
            OrderEvent::OrderPlaced(placed) => {
                let to_clear = carts.is_none_or(|carts| {
                    carts.get(placed.buyer.as_str()).is_some_and(|cart| {
                        cart.aggregate
                            .decide(CartCommand::ClearCart(ClearCart {
                                order_id: placed.order_id,
                                at: Utc::now(),
                            }))
                            .is_ok_and(|events| !events.is_empty())
                    })
                });
                if !to_clear {
                    return Ok(());
                }
                self.clear_cart(event, &placed.buyer, placed.order_id).await
            }
            OrderEvent::PaymentConfirmed(_) => {
                self.move_stock(event, campaign::Movement::Deduct, |order_id| {
                    SkuCommand::DeductStock(DeductStock {
                        order_id,
                        at: Utc::now(),
                    })
                })
                .await
            }
            OrderEvent::OrderCancelled(_) => {
                self.move_stock(event, campaign::Movement::Release, |order_id| {
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

    /// Applies `command` to the stock of every SKU of the order, all at once.
    async fn move_stock(
        &self,
        event: &RecordedEvent,
        movement: campaign::Movement,
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
        let key = match movement {
            campaign::Movement::Deduct => "deduct",
            campaign::Movement::Release => "release",
        };
        let meta = Self::metadata(event, format!("{key}:{order_id}"));
        if let Some(line) = order.campaign() {
            return campaign::move_units(&self.store, &meta, &order, line, movement).await;
        }
        // each SKU is its own stream: all at once
        futures::future::try_join_all(order.items().iter().map(|item| {
            self.store.execute_with(
                item.sku.as_str(),
                None,
                &meta,
                |stock: &Sku| stock.decide(command(order_id)),
                |_| (),
            )
        }))
        .await
        .map_err(boxed)?;
        Ok(())
    }
}

/// The dedup key of clearing the cart for the placement of `order_id`, in process or by the
/// consumer: the same key, so that switching between them never clears a cart twice.
pub(crate) fn clear_cart_key(order_id: OrderId) -> String {
    format!("clear:{order_id}")
}

fn boxed<E: std::error::Error + Send + Sync + 'static>(err: ExecuteError<E>) -> ReactionError {
    Box::new(err)
}

/// The order events of `batch` by their index in it: one group per order in the order of
/// their first event, each group in commit order.
fn per_order(batch: &[Arc<RecordedEvent>]) -> Vec<Vec<usize>> {
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut group_of: HashMap<&str, usize> = HashMap::new();
    for (index, event) in batch.iter().enumerate() {
        if event.aggregate_type != Order::TYPE {
            continue;
        }
        match group_of.entry(event.aggregate_id.as_str()) {
            Entry::Occupied(group) => groups[*group.get()].push(index),
            Entry::Vacant(group) => {
                group.insert(groups.len());
                groups.push(vec![index]);
            }
        }
    }
    groups
}

impl Reaction for OrderReactions {
    fn name(&self) -> &'static str {
        "order-reactions"
    }

    const BY_BATCH: bool = true;

    /// Each order's events in commit order, orders at once. A failure fails the batch, which
    /// the runner retries whole: the commands' dedup keys make what was done a repeat.
    async fn react_batch(&self, batch: &[Arc<RecordedEvent>]) -> Result<(), ReactionError> {
        let decoded = batch
            .iter()
            .map(|event| {
                (event.aggregate_type == Order::TYPE)
                    .then(|| event.decode::<OrderEvent>())
                    .transpose()
            })
            .collect::<Result<Vec<_>, _>>()?;
        let carts = if self.clears_carts {
            self.carts_of_placements(&decoded).await?
        } else {
            Carts::new()
        };
        let (decoded, carts) = (&decoded, &carts);
        futures::stream::iter(per_order(batch))
            .map(|events| async move {
                for index in events {
                    if let Some(order_event) = &decoded[index] {
                        self.act(&batch[index], order_event, Some(carts)).await?;
                    }
                }
                Ok::<(), ReactionError>(())
            })
            .buffer_unordered(ORDERS_AT_ONCE_MAX)
            .try_for_each(|()| futures::future::ok(()))
            .await
    }

    async fn react(&self, event: &RecordedEvent) -> Result<(), ReactionError> {
        if event.aggregate_type != Order::TYPE {
            return Ok(());
        }
        self.act(event, &event.decode::<OrderEvent>()?, None).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(aggregate_type: &str, aggregate_id: &str, sequence: u64) -> Arc<RecordedEvent> {
        Arc::new(RecordedEvent {
            position: 0,
            txid: 0,
            aggregate_type: aggregate_type.to_owned(),
            aggregate_id: aggregate_id.to_owned(),
            sequence,
            event_type: "E".to_owned(),
            event_version: "1.0".to_owned(),
            payload: serde_json::value::RawValue::from_string("{}".to_owned()).unwrap(),
            metadata: EventMetadata::default(),
            copied_from: None,
            recorded_at: Utc::now(),
        })
    }

    /// Orders are handled at once, so each order's events must stay one group, in commit
    /// order; events of other streams need nothing.
    #[test]
    fn a_batch_is_grouped_per_order_each_in_commit_order() {
        let batch = [
            event("Order", "a", 1),
            event("Sku", "x", 1),
            event("Order", "b", 1),
            event("Order", "a", 2),
            event("Cart", "a", 1),
            event("Order", "b", 2),
            event("Order", "a", 3),
        ];
        assert_eq!(per_order(&batch), vec![vec![0, 3, 6], vec![2, 5]]);
        assert!(per_order(&batch[1..2]).is_empty());
    }
}
