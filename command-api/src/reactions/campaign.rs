//! The order reactions' moves of a flash-sale order's units (ADR 38): they are held in the
//! campaign's bucket that `OrderPlaced` names, not in the SKU's stock. Payment sells them
//! there. Cancellation releases them to the bucket, so the running campaign sells them again,
//! and gives the buyer's claim back; a bucket that has closed (the campaign ended) marks the
//! release as the SKU's, and the units go back to the SKU.

use chrono::Utc;
use domain::{
    BucketCommand, BuyerCommand, Campaign, CampaignBucket, CampaignBuyer, CampaignLine,
    CampaignStock, Order, OrderId, Sku, SkuCommand, bucket_stream_id, buyer_stream_id,
};
use event_store::{EventMetadata, EventStore, execute_with};

use super::{ReactionError, boxed};

/// What happens to a campaign order's units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Movement {
    /// Paid: sold.
    Deduct,
    /// Cancelled: back to the campaign (or the SKU after its end), the claim returned.
    Release,
}

/// Moves the units of `order`, bought in `line`'s campaign; `meta` makes each command's
/// metadata from its dedup key.
pub(crate) async fn move_units(
    store: &EventStore,
    meta: impl Fn(String) -> EventMetadata,
    order: &Order,
    line: &CampaignLine,
    movement: Movement,
) -> Result<(), ReactionError> {
    let Some(order_id) = order.order_id() else {
        return Ok(());
    };
    let campaign = match store.kept::<Campaign>(line.campaign_id.as_str()) {
        Some(kept) if kept.aggregate.details().is_some() => kept.aggregate,
        _ => {
            store
                .load::<Campaign>(line.campaign_id.as_str())
                .await?
                .aggregate
        }
    };
    let Some(details) = campaign.details() else {
        return Ok(());
    };
    let share = campaign.bucket_stock(line.bucket);
    let at = Utc::now();
    let bucket_id = bucket_stream_id(&line.campaign_id, line.bucket);
    let (key, command) = match movement {
        Movement::Deduct => (
            format!("deduct:{order_id}"),
            BucketCommand::Deduct {
                share,
                order_id,
                at,
            },
        ),
        Movement::Release => (
            format!("release:{order_id}"),
            BucketCommand::Release {
                share,
                order_id,
                at,
            },
        ),
    };
    let moved = execute_with(
        store,
        &bucket_id,
        None,
        &meta(key),
        |bucket: &CampaignBucket| bucket.decide(command.clone()),
        |bucket| bucket.released_to_sku(order_id),
    )
    .await
    .map_err(boxed)?;
    if movement == Movement::Deduct {
        return Ok(());
    }
    if moved.aggregate {
        give_to_sku(store, &meta, order, line, order_id, &details.sku).await?;
    }
    let Some(buyer) = order.buyer() else {
        return Ok(());
    };
    let give_back = BuyerCommand::Return { order_id, at };
    execute_with(
        store,
        &buyer_stream_id(&line.campaign_id, buyer),
        None,
        &meta(format!("return:{order_id}")),
        |record: &CampaignBuyer| record.decide(give_back.clone()),
        |_| (),
    )
    .await
    .map_err(boxed)?;
    Ok(())
}

/// Gives an order's units, released after its campaign's bucket closed, back to the SKU.
async fn give_to_sku(
    store: &EventStore,
    meta: &impl Fn(String) -> EventMetadata,
    order: &Order,
    line: &CampaignLine,
    order_id: OrderId,
    sku: &domain::SkuId,
) -> Result<(), ReactionError> {
    let units = order.items().iter().map(|item| item.quantity.get()).sum();
    let command = CampaignStock {
        campaign_id: line.campaign_id.clone(),
        quantity: units,
        at: Utc::now(),
    };
    execute_with(
        store,
        sku.as_str(),
        None,
        &meta(format!("return:{order_id}")),
        |stock: &Sku| stock.decide(SkuCommand::ReturnFromCampaign(command.clone())),
        |_| (),
    )
    .await
    .map_err(boxed)?;
    Ok(())
}
