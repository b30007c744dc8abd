//! The one way a command reaches a campaign's bucket or a buyer's record, for placement, the
//! campaign service and the order reactions alike: keyed, and answering only whether it
//! appended (a bucket's state holds every reservation it made: never cloned per command).

use domain::{
    BucketCommand, BucketError, BuyerCommand, BuyerError, BuyerId, CampaignBucket, CampaignBuyer,
    CampaignId, bucket_stream_id, buyer_stream_id,
};
use event_store::{EventMetadata, ExecuteError, Executed};
use shards::Stores;

fn keyed(meta: &EventMetadata, key: String) -> EventMetadata {
    EventMetadata {
        dedup_key: Some(key),
        ..meta.clone()
    }
}

/// Runs `command` on bucket `bucket` of `campaign` with the dedup key `key`; answers what
/// `answer` takes of the bucket after it.
pub(crate) async fn on_bucket<R>(
    store: &Stores,
    (campaign, bucket): (&CampaignId, u32),
    meta: &EventMetadata,
    key: String,
    command: BucketCommand,
    answer: impl Fn(&CampaignBucket) -> R,
) -> Result<Executed<R>, ExecuteError<BucketError>> {
    store
        .execute_with(
            &bucket_stream_id(campaign, bucket),
            None,
            &keyed(meta, key),
            |stock: &CampaignBucket| stock.decide(command.clone()),
            answer,
        )
        .await
}

/// Runs `command` on `buyer`'s record in `campaign` with the dedup key `key`.
pub(crate) async fn on_buyer(
    store: &Stores,
    (campaign, buyer): (&CampaignId, &BuyerId),
    meta: &EventMetadata,
    key: String,
    command: BuyerCommand,
) -> Result<Executed<()>, ExecuteError<BuyerError>> {
    store
        .execute_with(
            &buyer_stream_id(campaign, buyer),
            None,
            &keyed(meta, key),
            |record: &CampaignBuyer| record.decide(command.clone()),
            |_| (),
        )
        .await
}
