//! The order reactions' moves of a flash-sale order's units (ADR 38): they are held in the
//! campaign's bucket that `OrderPlaced` names, not in the SKU's stock. Payment sells them
//! there. Cancellation releases them to the bucket, so the running campaign sells them again,
//! and gives the buyer's claim back; a bucket that has closed (the campaign ended) marks the
//! release as the SKU's, and the units go back to the SKU.

use chrono::Utc;
use domain::{
    BucketCommand, BuyerCommand, Campaign, CampaignLine, CampaignStock, Order, OrderId, Sku,
    SkuCommand,
};
use event_store::{EventMetadata, EventStore, execute_with};

use super::{ReactionError, boxed};
use crate::services::campaign_streams::{on_bucket, on_buyer};

/// What happens to a campaign order's units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Movement {
    /// Paid: sold.
    Deduct,
    /// Cancelled: back to the campaign (or the SKU after its end), the claim returned.
    Release,
}

/// Moves the units of `order`, bought in `line`'s campaign; each command takes `meta` with a
/// dedup key of its own.
pub(crate) async fn move_units(
    store: &EventStore,
    meta: &EventMetadata,
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
    let moved = on_bucket(
        store,
        (&line.campaign_id, line.bucket),
        meta,
        key,
        command,
        |bucket| bucket.released_to_sku(order_id),
    )
    .await
    .map_err(boxed)?;
    if movement == Movement::Deduct {
        return Ok(());
    }
    if moved.aggregate {
        give_to_sku(store, meta, order, line, order_id, &details.sku).await?;
    }
    let Some(buyer) = order.buyer() else {
        return Ok(());
    };
    let give_back = BuyerCommand::Return { order_id, at };
    on_buyer(
        store,
        (&line.campaign_id, buyer),
        meta,
        format!("return:{order_id}"),
        give_back,
    )
    .await
    .map_err(boxed)?;
    Ok(())
}

/// Gives an order's units, released after its campaign's bucket closed, back to the SKU.
async fn give_to_sku(
    store: &EventStore,
    meta: &EventMetadata,
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
        &EventMetadata {
            dedup_key: Some(format!("return:{order_id}")),
            ..meta.clone()
        },
        |stock: &Sku| stock.decide(SkuCommand::ReturnFromCampaign(command.clone())),
        |_| (),
    )
    .await
    .map_err(boxed)?;
    Ok(())
}
