//! Flash-sale campaigns: a seller creates one (its stock taken from the SKU), lists and ends
//! them; anybody reads one. Buyers order through placement (`placement::campaign`).
//!
//! Creating takes the units from the SKU first (keyed by the campaign id), then starts the
//! campaign's stream and lists it under its seller: a crash half-way leaves units out of the
//! SKU, never a campaign selling units the SKU still has, and a retry with the same
//! `Idempotency-Key` (which names the campaign id) finishes the rest. Ending closes every
//! bucket in its own stream (a closed bucket reserves nothing more, whatever a placement read
//! of the campaign) and gives what each held back to the SKU, each step keyed, so that ending
//! again finishes a crashed end and changes nothing else. A campaign whose end time passes
//! ends the same way, by the timer of [`crate::campaign_ends`].

use chrono::{DateTime, Utc};
use domain::{
    BucketCommand, Campaign, CampaignBucket, CampaignCommand, CampaignError, CampaignId,
    CampaignStatus, CampaignStock, CreateCampaign, EndCampaign, ListCampaign, Money, Quantity,
    SellerCampaigns, SellerId, Sku, SkuCommand, SkuError, SkuId, bucket_stream_id,
};
use event_store::{EventMetadata, ExecuteError, Executed, StoreError};
use sha2::{Digest, Sha256};
use shards::Stores;

use super::Clock;
use super::campaign_streams::on_bucket;

/// A campaign to create.
#[derive(Debug, Clone)]
pub struct NewCampaign {
    /// Its seller (the SKU's).
    pub seller: SellerId,
    /// The SKU it sells.
    pub sku: SkuId,
    /// When buyers may start ordering; `None`: now.
    pub starts_at: Option<DateTime<Utc>>,
    /// When it ends.
    pub ends_at: DateTime<Utc>,
    /// The campaign's unit price.
    pub price: Money,
    /// Units taken from the SKU.
    pub stock: u32,
    /// Units one buyer may hold at most.
    pub limit_per_buyer: Quantity,
}

/// A campaign as the API shows it.
#[derive(Debug, Clone)]
pub struct CampaignState {
    /// The campaign.
    pub campaign: Campaign,
    /// Its stream's version.
    pub version: u64,
    /// Units its buckets can still sell.
    pub remaining: u64,
    /// Its status now.
    pub status: CampaignStatus,
    /// `true` when this call created it.
    pub created: bool,
}

/// Why a campaign command was refused.
#[derive(Debug, thiserror::Error)]
pub enum CampaignsError {
    /// The campaign refused (none such, an empty window, no stock).
    #[error(transparent)]
    Campaign(CampaignError),
    /// The SKU refused (none of this seller's, not enough stock).
    #[error(transparent)]
    Stock(SkuError),
    /// Other writers kept winning the race for a stream.
    #[error("too much contention")]
    Contention,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn refused<E: std::error::Error + 'static>(
    err: ExecuteError<E>,
    domain: impl FnOnce(E) -> CampaignsError,
) -> CampaignsError {
    match err {
        ExecuteError::Domain(err) => domain(err),
        ExecuteError::Store(err) => CampaignsError::Store(err),
        ExecuteError::VersionMismatch { .. }
        | ExecuteError::Contention
        | ExecuteError::KeyReused { .. } => CampaignsError::Contention,
    }
}

/// The campaign use cases.
#[derive(Clone, Debug)]
pub struct Campaigns {
    store: Stores,
    clock: Clock,
}

impl Campaigns {
    /// The campaigns over `store`.
    pub fn new(store: Stores, clock: Clock) -> Self {
        Self { store, clock }
    }

    /// Creates a campaign. With `idempotency_key` its id is derived from the seller and the
    /// key, so a retry finds (and finishes) the campaign it created.
    pub async fn create(
        &self,
        new: NewCampaign,
        idempotency_key: Option<&str>,
        meta: &EventMetadata,
    ) -> Result<CampaignState, CampaignsError> {
        let now = self.clock.now();
        let campaign_id = campaign_id_for(&new.seller, idempotency_key)?;
        let command = CreateCampaign {
            campaign_id: campaign_id.clone(),
            sku: new.sku.clone(),
            seller: new.seller.clone(),
            starts_at: new.starts_at.unwrap_or(now),
            ends_at: new.ends_at,
            price: new.price,
            stock: new.stock,
            limit_per_buyer: new.limit_per_buyer,
            at: now,
        };
        // refuse a bad campaign before any unit moves
        Campaign::default()
            .decide(CampaignCommand::CreateCampaign(command.clone()))
            .map_err(CampaignsError::Campaign)?;
        let allocate = CampaignStock {
            campaign_id: campaign_id.clone(),
            quantity: new.stock,
            at: now,
        };
        self.store
            .execute_with(
                new.sku.as_str(),
                None,
                &keyed(meta, format!("allocate:{campaign_id}")),
                |stock: &Sku| {
                    if stock.seller() != Some(&new.seller) {
                        return Err(SkuError::NotFound);
                    }
                    stock.decide(SkuCommand::AllocateToCampaign(allocate.clone()))
                },
                |_| (),
            )
            .await
            .map_err(|err| refused(err, CampaignsError::Stock))?;
        let created = self
            .store
            .execute::<Campaign, _>(
                campaign_id.as_str(),
                None,
                &keyed(meta, "create".to_owned()),
                |campaign| campaign.decide(CampaignCommand::CreateCampaign(command.clone())),
            )
            .await
            .map_err(|err| refused(err, CampaignsError::Campaign))?;
        let list = ListCampaign {
            campaign_id: campaign_id.clone(),
            at: now,
        };
        self.store
            .execute::<SellerCampaigns, _>(
                new.seller.as_str(),
                None,
                &keyed(meta, format!("list:{campaign_id}")),
                |listed| listed.decide(list.clone()),
            )
            .await
            .map_err(|err| refused(err, |_| CampaignsError::Contention))?;
        let mut state = self.state_of(created.aggregate, created.version).await?;
        state.created = created.appended > 0;
        Ok(state)
    }

    /// The campaign `id`.
    pub async fn get(&self, id: &CampaignId) -> Result<CampaignState, CampaignsError> {
        let loaded = self.store.load::<Campaign>(id.as_str()).await?;
        if loaded.aggregate.details().is_none() {
            return Err(CampaignsError::Campaign(CampaignError::NotFound));
        }
        self.state_of(loaded.aggregate, loaded.version).await
    }

    /// The campaigns of `seller`, oldest first.
    pub async fn list(&self, seller: &SellerId) -> Result<Vec<CampaignState>, CampaignsError> {
        let listed = self.store.load::<SellerCampaigns>(seller.as_str()).await?;
        let ids: Vec<&str> = listed
            .aggregate
            .campaigns()
            .iter()
            .map(CampaignId::as_str)
            .collect();
        let mut campaigns = self.store.load_many::<Campaign>(&ids).await?;
        let mut states = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(loaded) = campaigns.remove(id) {
                states.push(self.state_of(loaded.aggregate, loaded.version).await?);
            }
        }
        Ok(states)
    }

    /// Ends `seller`'s campaign `id` now: its buckets close and what they held goes back to
    /// the SKU. Ending it again finishes what a crashed end left and changes nothing else.
    pub async fn end(
        &self,
        seller: &SellerId,
        id: &CampaignId,
        meta: &EventMetadata,
    ) -> Result<CampaignState, CampaignsError> {
        let ended = self
            .record_end(id, meta, |campaign| {
                if campaign.details().map(|d| &d.seller) != Some(seller) {
                    return Err(CampaignError::NotFound);
                }
                Ok(true)
            })
            .await?;
        self.close_buckets(&ended.aggregate, meta).await?;
        self.state_of(ended.aggregate, ended.version).await
    }

    /// Carries out the end of campaign `id` once its end time has passed (or its seller
    /// ended it): records it ended, closes its buckets and gives what they held back to the
    /// SKU, each step keyed as the seller's end is, so the two together, or this one run
    /// twice, return each unit once. Answers `false`, changing nothing, before the end time.
    pub async fn end_when_due(
        &self,
        id: &CampaignId,
        meta: &EventMetadata,
    ) -> Result<bool, CampaignsError> {
        let now = self.clock.now();
        let ended = self
            .record_end(id, meta, |campaign| {
                Ok(campaign.status(now).ok_or(CampaignError::NotFound)? == CampaignStatus::Ended)
            })
            .await?;
        if ended.aggregate.status(now) != Some(CampaignStatus::Ended) {
            return Ok(false);
        }
        self.close_buckets(&ended.aggregate, meta).await?;
        Ok(true)
    }

    /// Appends `CampaignEnded` to campaign `id` (dedup key `end`) when `may_end` says so.
    async fn record_end(
        &self,
        id: &CampaignId,
        meta: &EventMetadata,
        may_end: impl Fn(&Campaign) -> Result<bool, CampaignError>,
    ) -> Result<Executed<Campaign>, CampaignsError> {
        let now = self.clock.now();
        self.store
            .execute::<Campaign, _>(
                id.as_str(),
                None,
                &keyed(meta, "end".to_owned()),
                |campaign| {
                    if !may_end(campaign)? {
                        return Ok(vec![]);
                    }
                    campaign.decide(CampaignCommand::EndCampaign(EndCampaign { at: now }))
                },
            )
            .await
            .map_err(|err| refused(err, CampaignsError::Campaign))
    }

    /// Closes every bucket of `campaign` and gives what each held back to its SKU.
    async fn close_buckets(
        &self,
        campaign: &Campaign,
        meta: &EventMetadata,
    ) -> Result<(), CampaignsError> {
        let Some(details) = campaign.details() else {
            return Ok(());
        };
        let closes = (0..details.buckets).map(|bucket| async move {
            let close = BucketCommand::Close {
                share: campaign.bucket_stock(bucket),
                at: self.clock.now(),
            };
            let closed = on_bucket(
                &self.store,
                (&details.campaign_id, bucket),
                meta,
                "close".to_owned(),
                close,
                CampaignBucket::returned_at_close,
            )
            .await
            .map_err(|err| refused(err, |_| CampaignsError::Contention))?;
            if closed.aggregate == 0 {
                return Ok(());
            }
            let give_back = CampaignStock {
                campaign_id: details.campaign_id.clone(),
                quantity: closed.aggregate,
                at: self.clock.now(),
            };
            self.store
                .execute_with(
                    details.sku.as_str(),
                    None,
                    &keyed(
                        meta,
                        format!("return:{}", bucket_stream_id(&details.campaign_id, bucket)),
                    ),
                    |stock: &Sku| stock.decide(SkuCommand::ReturnFromCampaign(give_back.clone())),
                    |_| (),
                )
                .await
                .map_err(|err| refused(err, CampaignsError::Stock))?;
            Ok::<(), CampaignsError>(())
        });
        futures::future::try_join_all(closes).await?;
        Ok(())
    }

    /// The campaign as shown: its status now and what its buckets can still sell.
    async fn state_of(
        &self,
        campaign: Campaign,
        version: u64,
    ) -> Result<CampaignState, CampaignsError> {
        let details = campaign
            .details()
            .ok_or(CampaignsError::Campaign(CampaignError::NotFound))?;
        let ids: Vec<String> = (0..details.buckets)
            .map(|bucket| bucket_stream_id(&details.campaign_id, bucket))
            .collect();
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        let buckets = self.store.load_many::<CampaignBucket>(&refs).await?;
        let remaining = (0..details.buckets)
            .zip(&ids)
            .map(|(bucket, id)| {
                let share = campaign.bucket_stock(bucket);
                buckets.get(id).map_or(u64::from(share), |loaded| {
                    u64::from(loaded.aggregate.available_of(share))
                })
            })
            .sum();
        let status = campaign
            .status(self.clock.now())
            .unwrap_or(CampaignStatus::Ended);
        Ok(CampaignState {
            campaign,
            version,
            remaining,
            status,
            created: false,
        })
    }
}

fn keyed(meta: &EventMetadata, key: String) -> EventMetadata {
    EventMetadata {
        dedup_key: Some(key),
        ..meta.clone()
    }
}

/// A new campaign's id: derived from the seller and the client's idempotency key, so that a
/// retry names the same campaign, else random.
fn campaign_id_for(
    seller: &SellerId,
    idempotency_key: Option<&str>,
) -> Result<CampaignId, CampaignsError> {
    let suffix = match idempotency_key {
        Some(key) => {
            let mut digest = Sha256::new();
            digest.update(seller.as_str().as_bytes());
            digest.update(b"\n");
            digest.update(key.as_bytes());
            digest
                .finalize()
                .iter()
                .take(16)
                .map(|byte| format!("{byte:02x}"))
                .collect()
        }
        None => uuid::Uuid::new_v4().simple().to_string(),
    };
    CampaignId::parse(&format!("c-{suffix}"))
        .map_err(|_| CampaignsError::Campaign(CampaignError::NotFound))
}
