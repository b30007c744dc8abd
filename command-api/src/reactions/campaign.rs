//! The moves of a flash-sale order's units (ADR 38): they are held in the campaign's bucket
//! that `OrderPlaced` names, not in the SKU's stock. Payment sells them there. Cancellation
//! releases them to the bucket, so the running campaign sells them again, and gives the
//! buyer's claim back; a bucket that has closed (the campaign ended) marks the release as the
//! SKU's, and the units go back to the SKU. A placement that never became an order has its
//! unit and its claim released the same way ([`super::placement::release`]).

use chrono::{DateTime, Utc};
use domain::{
    BucketCommand, BuyerCommand, BuyerId, Campaign, CampaignCreated, CampaignId, CampaignLine,
    CampaignStock, Order, OrderId, Sku, SkuCommand,
};
use event_store::EventMetadata;
use shards::Stores;

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
    store: &Stores,
    meta: &EventMetadata,
    order: &Order,
    line: &CampaignLine,
    movement: Movement,
) -> Result<(), ReactionError> {
    let Some(order_id) = order.order_id() else {
        return Ok(());
    };
    let campaign = campaign_of(store, &line.campaign_id).await?;
    if campaign.details().is_none() {
        return Ok(());
    }
    let at = Utc::now();
    if movement == Movement::Release {
        release_in_bucket(store, meta, &campaign, line.bucket, order_id, at).await?;
        if let Some(buyer) = order.buyer() {
            return_claim(store, meta, (&line.campaign_id, buyer), order_id, at).await?;
        }
        return Ok(());
    }
    let command = BucketCommand::Deduct {
        share: campaign.bucket_stock(line.bucket),
        order_id,
        at,
    };
    on_bucket(
        store,
        (&line.campaign_id, line.bucket),
        meta,
        format!("deduct:{order_id}"),
        command,
        |_| (),
    )
    .await
    .map_err(boxed)?;
    Ok(())
}

/// The campaign `id`, from the state this process keeps when it has it.
pub(crate) async fn campaign_of(
    store: &Stores,
    id: &CampaignId,
) -> Result<Campaign, ReactionError> {
    match store.kept::<Campaign>(id.as_str()) {
        Some(kept) if kept.aggregate.details().is_some() => Ok(kept.aggregate),
        _ => Ok(store.load::<Campaign>(id.as_str()).await?.aggregate),
    }
}

/// Releases what `order_id` holds in bucket `bucket` of `campaign` (dedup key
/// `release:{order_id}`): back to the campaign while the bucket is open, to the SKU once it
/// closed. Answers how many events that appended to the bucket.
pub(crate) async fn release_in_bucket(
    store: &Stores,
    meta: &EventMetadata,
    campaign: &Campaign,
    bucket: u32,
    order_id: OrderId,
    at: DateTime<Utc>,
) -> Result<usize, ReactionError> {
    let Some(details) = campaign.details() else {
        return Ok(0);
    };
    let command = BucketCommand::Release {
        share: campaign.bucket_stock(bucket),
        order_id,
        at,
    };
    let released = on_bucket(
        store,
        (&details.campaign_id, bucket),
        meta,
        format!("release:{order_id}"),
        command,
        // asked again after a crash, the units found gone to the SKU go to it (keyed) again
        |bucket| {
            bucket
                .reserved_by(order_id)
                .filter(|_| bucket.released_to_sku(order_id))
        },
    )
    .await
    .map_err(boxed)?;
    if let Some(units) = released.aggregate {
        give_to_sku(store, meta, details, order_id, units.get()).await?;
    }
    Ok(released.appended)
}

/// Returns `order_id`'s claim on `buyer`'s limit in `campaign` (dedup key `return:{order_id}`);
/// answers how many events that appended.
pub(crate) async fn return_claim(
    store: &Stores,
    meta: &EventMetadata,
    (campaign, buyer): (&CampaignId, &BuyerId),
    order_id: OrderId,
    at: DateTime<Utc>,
) -> Result<usize, ReactionError> {
    let returned = on_buyer(
        store,
        (campaign, buyer),
        meta,
        format!("return:{order_id}"),
        BuyerCommand::Return { order_id, at },
    )
    .await
    .map_err(boxed)?;
    Ok(returned.appended)
}

/// Gives `units` of an order, released after its campaign's bucket closed, back to the SKU.
async fn give_to_sku(
    store: &Stores,
    meta: &EventMetadata,
    campaign: &CampaignCreated,
    order_id: OrderId,
    units: u32,
) -> Result<(), ReactionError> {
    let command = CampaignStock {
        campaign_id: campaign.campaign_id.clone(),
        quantity: units,
        at: Utc::now(),
    };
    store
        .execute_with(
            campaign.sku.as_str(),
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
