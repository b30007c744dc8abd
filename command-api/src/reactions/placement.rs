//! The placement reactions (ADR 32): whoever appends an order stream's first event decides the
//! fate of its id's stock reservations (ADR 5), and this reaction carries that decision out
//! when the placement itself did not (its process died between the rejection and the release,
//! or a retry found the id rejected and released nothing).
//!
//! It keeps [`OpenReservations`] from the log: a `StockReserved` adds its row; a
//! `StockReleased` or `StockDeducted` removes it, and so does the order's `OrderPlaced` (the
//! order holds it from then on, and its payment or cancellation ends it). On a
//! `PlacementRejected` it releases every open reservation of the order id, whatever the
//! rejection knows of the placement's items: a rejection can come before any of them is in
//! the order stream. Both happen in one reaction, the table first, so the rows of every
//! reservation before the rejection are there when the rejection is handled.
//!
//! A release uses the dedup key `release:{order_id}`, like the placement's own release: a SKU
//! releases an order's units at most once, whoever asks.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use domain::{Order, OrderId, ReleaseStock, Sku, SkuCommand, SkuEvent};
use event_store::{EventMetadata, EventStore, RecordedEvent};
use futures::{StreamExt, TryStreamExt};

use super::open_reservations::{OpenReservation, OpenReservations};
use super::runner::Reaction;
use event_store::{ExecuteError, execute_with};

type ReactionError = Box<dyn std::error::Error + Send + Sync>;

/// Releases issued at once (each SKU is its own stream).
const RELEASES_AT_ONCE_MAX: usize = 64;

/// How long the reactions let the log gather before handling a batch. A placement's
/// `StockReserved` events and its `OrderPlaced` are commits a few milliseconds apart: handled
/// in one batch they cancel out, while split over two they cost a row written and deleted
/// again. Handling the log as it commits split about 70% of them (bench place-pay: 21,750
/// rows written and deleted for 15,546 orders); a quarter of a second leaves only those at a
/// batch's edge, and releases a rejected placement's stock that much later.
const LINGER_MS: u64 = 250;

/// Keeps the open reservations and releases those of rejected placements.
#[derive(Debug, Clone)]
pub struct PlacementReactions {
    store: EventStore,
    open: OpenReservations,
}

/// What a batch changes in the open reservations.
#[derive(Debug, Default, PartialEq, Eq)]
struct Changes {
    /// Reservations still open at the batch's end.
    added: Vec<OpenReservation>,
    /// Reservations from earlier batches that ended in this one (order id, SKU).
    ended: Vec<(String, String)>,
    /// Orders placed in this batch: their reservations until then are the order's.
    placed: Vec<String>,
    /// Order ids rejected in this batch, in commit order.
    rejected: Vec<String>,
}

/// Folds a batch, in commit order, into what it changes. A reservation made and ended (or
/// taken by its order's placement) within the batch is never added; one made after its
/// order's placement in the batch is (the order does not hold it: ADR 14's repeat on another
/// node reserves a SKU the order lacks before it learns the order exists).
fn changes(batch: &[Arc<RecordedEvent>]) -> Result<Changes, ReactionError> {
    let mut changes = Changes::default();
    for event in batch {
        if event.aggregate_type == Sku::TYPE {
            let sku = &event.aggregate_id;
            match event.decode::<SkuEvent>()? {
                SkuEvent::StockReserved(reserved) => changes.added.push(OpenReservation {
                    order_id: reserved.order_id.to_string(),
                    sku: sku.clone(),
                    reserved_at_ms: reserved.at.timestamp_millis(),
                }),
                SkuEvent::StockReleased(released) => {
                    changes.end(&released.order_id.to_string(), Some(sku));
                }
                SkuEvent::StockDeducted(deducted) => {
                    changes.end(&deducted.order_id.to_string(), Some(sku));
                }
                _ => {}
            }
        } else if event.aggregate_type == Order::TYPE {
            // the order id is the stream's id: nothing to decode
            match event.event_type.as_str() {
                "OrderPlaced" => {
                    changes.end(&event.aggregate_id, None);
                    changes.placed.push(event.aggregate_id.clone());
                }
                "PlacementRejected" => changes.rejected.push(event.aggregate_id.clone()),
                _ => {}
            }
        }
    }
    Ok(changes)
}

impl Changes {
    /// The reservation of `order_id` on `sku` (on every SKU when `None`: its order was placed)
    /// ended: dropped from what the batch adds, or, when an earlier batch added it, removed.
    fn end(&mut self, order_id: &str, sku: Option<&String>) {
        let before = self.added.len();
        self.added
            .retain(|r| r.order_id != order_id || sku.is_some_and(|sku| &r.sku != sku));
        if let Some(sku) = sku {
            if self.added.len() == before {
                self.ended.push((order_id.to_owned(), sku.clone()));
            }
        }
    }
}

impl PlacementReactions {
    /// Reactions keeping the open reservations of `store`'s database and issuing their
    /// commands to it.
    pub fn new(store: EventStore) -> Self {
        Self {
            open: OpenReservations::new(store.clone()),
            store,
        }
    }

    /// Releases every open reservation of `order_ids`: all at once, each with the dedup key
    /// `release:{order_id}`. A reservation that already ended releases nothing.
    async fn release_all(
        &self,
        order_ids: &[String],
        actor: &str,
        cause: Option<&RecordedEvent>,
    ) -> Result<usize, ReactionError> {
        let held = self.open.of_orders(order_ids).await?;
        let released = futures::stream::iter(held)
            .map(|(order_id, sku)| async move {
                release(&self.store, &order_id, &sku, actor, cause, Utc::now()).await
            })
            .buffer_unordered(RELEASES_AT_ONCE_MAX)
            .try_fold(0, |count, appended| async move { Ok(count + appended) })
            .await?;
        Ok(released)
    }

    /// The open reservations this reaction keeps.
    pub fn open_reservations(&self) -> &OpenReservations {
        &self.open
    }
}

/// Releases `order_id`'s units of `sku` (dedup key `release:{order_id}`); answers how many
/// events that appended (0 when the reservation had ended already).
pub(crate) async fn release(
    store: &EventStore,
    order_id: &str,
    sku: &str,
    actor: &str,
    cause: Option<&RecordedEvent>,
    at: DateTime<Utc>,
) -> Result<usize, ReactionError> {
    let order_id: OrderId = order_id
        .parse()
        .map_err(|err| format!("an open reservation names the order id {order_id:?}: {err}"))?;
    let meta = EventMetadata {
        dedup_key: Some(format!("release:{order_id}")),
        actor: Some(actor.to_owned()),
        correlation_id: cause.and_then(|e| e.metadata.correlation_id.clone()),
        causation_id: cause
            .map(|e| format!("{}/{}/{}", e.aggregate_type, e.aggregate_id, e.sequence)),
        request_id: None,
        request_digest: None,
    };
    let command = ReleaseStock { order_id, at };
    let executed = execute_with(
        store,
        sku,
        None,
        &meta,
        |stock: &Sku| stock.decide(SkuCommand::ReleaseStock(command.clone())),
        |_| (),
    )
    .await
    .map_err(|err: ExecuteError<_>| Box::new(err) as ReactionError)?;
    Ok(executed.appended)
}

impl Reaction for PlacementReactions {
    fn name(&self) -> &'static str {
        "placement-reactions"
    }

    const BY_BATCH: bool = true;

    const BATCH_SIZE: usize = event_store::SUBSCRIPTION_BATCH_SIZE_MAX;

    const LINGER: std::time::Duration = std::time::Duration::from_millis(LINGER_MS);

    /// The batch's changes to the open reservations first (a few statements for the whole
    /// batch), then the releases of its rejections. A failure fails the batch, which the
    /// runner retries whole: every step is idempotent.
    async fn react_batch(&self, batch: &[Arc<RecordedEvent>]) -> Result<(), ReactionError> {
        let changes = changes(batch)?;
        self.open.remove_orders(&changes.placed).await?;
        self.open.remove(&changes.ended).await?;
        self.open.add(&changes.added).await?;
        if changes.rejected.is_empty() {
            return Ok(());
        }
        let rejected: BTreeSet<&String> = changes.rejected.iter().collect();
        let first_rejection = batch
            .iter()
            .find(|e| e.aggregate_type == Order::TYPE && e.event_type == "PlacementRejected");
        let ids: Vec<String> = rejected.into_iter().cloned().collect();
        let released = self
            .release_all(
                &ids,
                "system:placement-reactions",
                first_rejection.map(|e| &**e),
            )
            .await?;
        if released > 0 {
            tracing::info!(
                released,
                orders = ids.len(),
                "released the reservations of rejected placements"
            );
        }
        Ok(())
    }

    async fn react(&self, event: &RecordedEvent) -> Result<(), ReactionError> {
        self.react_batch(&[Arc::new(event.clone())]).await
    }
}
