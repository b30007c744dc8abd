//! The placement reactions (ADR 32): whoever appends an order stream's first event decides the
//! fate of its id's stock reservations (ADR 5), and this reaction carries that decision out
//! when the placement itself did not (its process died between the rejection and the release,
//! or a retry found the id rejected and released nothing).
//!
//! It keeps [`OpenReservations`] from the log: a `StockReserved` adds its row; a
//! `StockReleased` or `StockDeducted` removes it, and so does the order's `OrderPlaced` (the
//! order holds it from then on, and its payment or cancellation ends it). A flash-sale
//! placement's `BucketReserved` and `LimitClaimed` (ADR 38) are rows the same way, ended by
//! `BucketReleased`, `BucketDeducted` and `LimitReturned`. On a
//! `PlacementRejected` it releases every open reservation of the order id, whatever the
//! rejection knows of the placement's items: a rejection can come before any of them is in
//! the order stream. Both happen in one reaction, the table first, so the rows of every
//! reservation before the rejection are there when the rejection is handled.
//!
//! A release uses the dedup key `release:{order_id}` (`return:{order_id}` for a claim), like
//! the placement's own release: a SKU or a bucket releases an order's units at most once, and
//! a buyer's record returns its claim at most once, whoever asks.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use domain::{
    BucketEvent, BuyerEvent, Order, OrderId, ReleaseStock, Sku, SkuCommand, SkuEvent,
    parse_bucket_stream_id, parse_buyer_stream_id,
};
use event_store::{EventMetadata, RecordedEvent};
use futures::{StreamExt, TryStreamExt};
use shards::Stores;

use super::campaign;
use super::open_reservations::{Holder, OpenReservation, OpenReservations};
use super::runner::Reaction;
use event_store::ExecuteError;

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
    store: Stores,
    open: OpenReservations,
}

/// What a batch changes in the open reservations.
#[derive(Debug, Default, PartialEq, Eq)]
struct Changes {
    /// Reservations still open at the batch's end.
    added: Vec<OpenReservation>,
    /// Reservations from earlier batches that ended in this one (order id, stream id).
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
        let stream = &event.aggregate_id;
        let Some(holder) = Holder::of_type(&event.aggregate_type) else {
            if event.aggregate_type == Order::TYPE {
                // the order id is the stream's id: nothing to decode
                match event.event_type.as_str() {
                    "OrderPlaced" => {
                        changes.end(stream, None);
                        changes.placed.push(stream.clone());
                    }
                    "PlacementRejected" => changes.rejected.push(stream.clone()),
                    _ => {}
                }
            }
            continue;
        };
        match moved(holder, event)? {
            Some((order_id, Moved::Reserved(at))) => changes.added.push(OpenReservation {
                order_id: order_id.to_string(),
                holder,
                stream_id: stream.clone(),
                reserved_at_ms: at.timestamp_millis(),
            }),
            Some((order_id, Moved::Ended)) => changes.end(&order_id.to_string(), Some(stream)),
            None => {}
        }
    }
    Ok(changes)
}

/// What an event of a stream holding reservations did to one.
enum Moved {
    /// An order's reservation (or claim) was made, at this time.
    Reserved(DateTime<Utc>),
    /// It ended: released, deducted, returned.
    Ended,
}

/// The reservation `event` of a `holder` stream made or ended, if any.
fn moved(holder: Holder, event: &RecordedEvent) -> Result<Option<(OrderId, Moved)>, ReactionError> {
    Ok(match holder {
        Holder::Sku => match event.decode::<SkuEvent>()? {
            SkuEvent::StockReserved(e) => Some((e.order_id, Moved::Reserved(e.at))),
            SkuEvent::StockReleased(e) => Some((e.order_id, Moved::Ended)),
            SkuEvent::StockDeducted(e) => Some((e.order_id, Moved::Ended)),
            _ => None,
        },
        Holder::CampaignBucket => match event.decode::<BucketEvent>()? {
            BucketEvent::BucketReserved(e) => Some((e.order_id, Moved::Reserved(e.at))),
            BucketEvent::BucketReleased(e) => Some((e.order_id, Moved::Ended)),
            BucketEvent::BucketDeducted(e) => Some((e.order_id, Moved::Ended)),
            _ => None,
        },
        Holder::CampaignBuyer => match event.decode::<BuyerEvent>()? {
            BuyerEvent::LimitClaimed(e) => Some((e.order_id, Moved::Reserved(e.at))),
            BuyerEvent::LimitReturned(e) => Some((e.order_id, Moved::Ended)),
        },
    })
}

impl Changes {
    /// The reservation of `order_id` held by stream `stream` (by every stream when `None`: its
    /// order was placed) ended: dropped from what the batch adds, or, when an earlier batch
    /// added it, removed.
    fn end(&mut self, order_id: &str, stream: Option<&String>) {
        let before = self.added.len();
        self.added.retain(|r| {
            r.order_id != order_id || stream.is_some_and(|stream| &r.stream_id != stream)
        });
        if let Some(stream) = stream {
            if self.added.len() == before {
                self.ended.push((order_id.to_owned(), stream.clone()));
            }
        }
    }
}

impl PlacementReactions {
    /// Reactions keeping the open reservations (each in its order's database) and issuing
    /// their commands through `store`.
    pub fn new(store: Stores) -> Self {
        Self {
            open: OpenReservations::new(store.db().clone()),
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
            .map(|held| async move { release(&self.store, &held, actor, cause, Utc::now()).await })
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

/// Releases what `held` holds (dedup key `release:{order_id}`, and `return:{order_id}` for
/// a buyer's claim); answers how many events that appended (0 when it had ended already).
pub(crate) async fn release(
    store: &Stores,
    held: &OpenReservation,
    actor: &str,
    cause: Option<&RecordedEvent>,
    at: DateTime<Utc>,
) -> Result<usize, ReactionError> {
    let order_id: OrderId = held.order_id.parse().map_err(|err| {
        format!(
            "an open reservation names the order id {:?}: {err}",
            held.order_id
        )
    })?;
    let meta = EventMetadata {
        dedup_key: Some(format!("release:{order_id}")),
        actor: Some(actor.to_owned()),
        correlation_id: cause.and_then(|e| e.metadata.correlation_id.clone()),
        causation_id: cause
            .map(|e| format!("{}/{}/{}", e.aggregate_type, e.aggregate_id, e.sequence)),
        request_id: None,
        request_digest: None,
    };
    let stream = held.stream_id.as_str();
    let unknown = || format!("an open reservation names the {:?} {stream:?}", held.holder);
    match held.holder {
        Holder::Sku => {
            let command = ReleaseStock { order_id, at };
            let executed = store
                .execute_with(
                    stream,
                    None,
                    &meta,
                    |stock: &Sku| stock.decide(SkuCommand::ReleaseStock(command.clone())),
                    |_| (),
                )
                .await
                .map_err(|err: ExecuteError<_>| Box::new(err) as ReactionError)?;
            Ok(executed.appended)
        }
        Holder::CampaignBucket => {
            let (campaign, bucket) = parse_bucket_stream_id(stream).ok_or_else(unknown)?;
            let campaign = campaign::campaign_of(store, &campaign).await?;
            campaign::release_in_bucket(store, &meta, &campaign, bucket, order_id, at).await
        }
        Holder::CampaignBuyer => {
            let (campaign, buyer) = parse_buyer_stream_id(stream).ok_or_else(unknown)?;
            campaign::return_claim(store, &meta, (&campaign, &buyer), order_id, at).await
        }
    }
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
