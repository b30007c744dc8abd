//! Placing an order in a flash-sale campaign (ADR 38).
//!
//! 1. The campaign must be running, and the order one line of its SKU within the per-buyer
//!    limit; the product version is checked as for any order, the price is the campaign's.
//! 2. A repeat of a placed order answers before anything is touched, as any placement.
//! 3. A campaign this process sees sold out (every bucket's kept state empty and, within the
//!    staleness bound, the log's) refuses here, before anything is taken: a sell-out's
//!    refusals write nothing.
//! 4. The order's units are claimed on the buyer's record (`CampaignBuyer`, keyed by the
//!    order id): orders of one buyer take turns there, so only `limit` units are ever claimed,
//!    and a retry claims nothing twice.
//! 5. They are reserved in one bucket of the campaign's stock, the one the order id hashes to,
//!    or the next ones when it is empty: buyers of one campaign reserve in parallel streams.
//!    For a buyer this process has never seen in the campaign, steps 4 and 5 run at once; a
//!    claim refused then gives the reservation back behind a rejection (`OverLimit`).
//! 6. `OrderPlaced` names the campaign and the bucket, so that payment and cancellation find
//!    the units.
//!
//! ADR 5's rule holds: a failed placement that took something appends `PlacementRejected`
//! before it gives its claim and its units back, and a placement that loses the race gives
//! back only what the winner does not hold.

use domain::{
    BucketCommand, BucketError, BuyerCommand, BuyerId, Campaign, CampaignBucket, CampaignBuyer,
    CampaignCreated, CampaignError, CampaignId, CampaignLine, ItemRequest, Money, Order,
    OrderError, OrderId, PlaceOrder, Quantity, RejectionReason, bucket_stream_id, buyer_stream_id,
};
use event_store::{EventMetadata, ExecuteError, Executed};

use super::{OrderLine, Placed, Placement, PlacementError};
use crate::services::campaign_streams::{on_bucket, on_buyer};

/// What a campaign placement took in this call: its claim on the buyer's limit and its
/// reservation in a bucket (each `true` when this call appended it).
#[derive(Debug, Default, Clone, Copy)]
struct Taken {
    claimed: bool,
    bucket: Option<u32>,
}

/// A refused claim on the buyer's record, and the bucket in which this call reserved the
/// units at once with it, if it did.
#[derive(Debug)]
struct Refused {
    refusal: PlacementError,
    bucket: Option<u32>,
}

/// `err` as a placement error, the domain's refusal through `domain`.
fn store_side<E: std::error::Error + 'static>(
    err: ExecuteError<E>,
    domain: impl FnOnce(E) -> PlacementError,
) -> PlacementError {
    match err {
        ExecuteError::Domain(err) => domain(err),
        ExecuteError::Store(err) => PlacementError::Store(err),
        // a placement's keys are its own, never a client's (no request digest to differ)
        ExecuteError::VersionMismatch { .. }
        | ExecuteError::Contention
        | ExecuteError::KeyReused { .. } => PlacementError::Contention,
    }
}

impl Placement {
    /// Places the order in `campaign_id`, or answers the order placed before with the same
    /// content.
    pub(super) async fn place_in_campaign(
        &self,
        buyer: BuyerId,
        order_id: OrderId,
        lines: Vec<OrderLine>,
        campaign_id: &CampaignId,
        meta: &EventMetadata,
    ) -> Result<Placed, PlacementError> {
        let campaign = self.running_campaign(campaign_id).await?;
        let details = details_of(&campaign)?;
        let [line] = lines.as_slice() else {
            return Err(not_campaign_line(&campaign));
        };
        if line.sku != details.sku || line.quantity > details.limit_per_buyer {
            return Err(not_campaign_line(&campaign));
        }
        let id = order_id.to_string();
        let existing = self.store.current_or_new::<Order>(&id).await?;
        if existing.aggregate.rejection().is_some() {
            return Err(PlacementError::Order(OrderError::PlacementWasRejected));
        }
        let mut snapshots = self.current_snapshots(&lines).await?;
        let mut snapshot = snapshots.remove(0);
        snapshot.unit_price = details.price;
        let now = self.clock.now();
        let mut command = PlaceOrder {
            order_id,
            buyer: buyer.clone(),
            seller: snapshot.seller.clone(),
            items: vec![ItemRequest {
                quantity: line.quantity,
                snapshot,
            }],
            discount: Money::zero(),
            placed_at: now,
            payment_due_at: now + self.payment_timeout,
            campaign: None,
        };
        if let Some(repeat) = self.decide_first(existing, &id, &command).await? {
            return Ok(repeat);
        }
        if self.sold_out(&campaign, order_id, line.quantity).await? {
            return Err(PlacementError::CampaignSoldOut);
        }
        let (claimed, reserved) = match self
            .claim_and_reserve(meta, &campaign, &buyer, order_id, line.quantity)
            .await
        {
            Ok(taken) => taken,
            Err(Refused { refusal, bucket }) => {
                // a reservation made at once with the refused claim is not this order's
                if let (Some(bucket), PlacementError::Limit(_)) = (bucket, &refusal) {
                    let taken = Taken {
                        claimed: false,
                        bucket: Some(bucket),
                    };
                    let reason = RejectionReason::OverLimit {
                        campaign_id: campaign_id.clone(),
                    };
                    self.abandon_in_campaign(meta, &command, reason, &campaign, taken)
                        .await?;
                }
                return Err(refusal);
            }
        };
        let mut taken = Taken {
            claimed,
            bucket: None,
        };
        let bucket = match reserved {
            Ok((bucket, appended)) => {
                taken.bucket = appended.then_some(bucket);
                bucket
            }
            Err(refusal) => {
                let reason = match refusal {
                    PlacementError::Stock(domain::SkuError::ReservationMismatch { .. }) => {
                        RejectionReason::ConflictingPlacement {
                            sku: details.sku.clone(),
                        }
                    }
                    PlacementError::Store(_) | PlacementError::Contention => return Err(refusal),
                    _ => RejectionReason::OutOfStock {
                        sku: details.sku.clone(),
                    },
                };
                self.abandon_in_campaign(meta, &command, reason, &campaign, taken)
                    .await?;
                return Err(refusal);
            }
        };
        command.campaign = Some(CampaignLine {
            campaign_id: campaign_id.clone(),
            bucket,
        });
        self.append_campaign_placement(meta, &command, &campaign, taken)
            .await
    }

    /// The campaign, when it is running: checked on a state at most the staleness bound
    /// behind the log (ADR 16), a refusal checked again on the log. A campaign that ends
    /// meanwhile is safe: its buckets close in their own streams, and a closed bucket
    /// reserves nothing.
    async fn running_campaign(&self, campaign_id: &CampaignId) -> Result<Campaign, PlacementError> {
        let now = self.clock.now();
        let id = campaign_id.as_str();
        let kept = self.store.load_many_fresh::<Campaign>(&[id]).await?;
        if let Some(loaded) = kept.get(id) {
            if loaded.aggregate.check_running(now).is_ok() {
                return Ok(loaded.aggregate.clone());
            }
        }
        let campaign = self.store.load::<Campaign>(id).await?.aggregate;
        campaign
            .check_running(now)
            .map_err(PlacementError::Campaign)?;
        Ok(campaign)
    }

    /// Whether every bucket of the campaign has fewer than `quantity` units for `order_id`
    /// on the states this process keeps, and those states are the log's, as far as the
    /// buckets' versions within the staleness bound tell (ADR 16: read once, then followed by
    /// the tail). A placement after the sell-out is then refused before it claims anything:
    /// it writes and reads nothing, however often it is replayed, and its order id stays
    /// unused. `false` whenever that is not certain (a bucket not kept here or busy, one with
    /// units or holding this order, a closed one, a kept state behind the log): the buckets
    /// then decide, as for any placement.
    async fn sold_out(
        &self,
        campaign: &Campaign,
        order_id: OrderId,
        quantity: Quantity,
    ) -> Result<bool, PlacementError> {
        let details = details_of(campaign)?;
        let buckets = details.buckets.max(1);
        // while the campaign sells, the first bucket has units: stop there, nothing built
        let mut ids = Vec::with_capacity(buckets as usize);
        let mut kept_versions = Vec::with_capacity(buckets as usize);
        for bucket in 0..buckets {
            let id = bucket_stream_id(&details.campaign_id, bucket);
            let share = campaign.bucket_stock(bucket);
            let empty = self
                .store
                .kept_with(&id, |state: &CampaignBucket| {
                    !state.is_closed()
                        && state.reserved_by(order_id).is_none()
                        && state.available_of(share) < quantity.get()
                })
                .await;
            match empty {
                Some((version, true)) => kept_versions.push(version),
                _ => return Ok(false),
            }
            ids.push(id);
        }
        let names: Vec<&str> = ids.iter().map(String::as_str).collect();
        let versions = self
            .store
            .stream_versions_fresh::<CampaignBucket>(&names)
            .await?;
        Ok(ids
            .iter()
            .zip(kept_versions)
            .all(|(id, kept)| versions.get(id).copied().unwrap_or(0) == kept))
    }

    /// Claims the order's units on the buyer's record and reserves them in a bucket. For a
    /// buyer this process has never seen in the campaign (the flash sale's usual buyer), the
    /// record is presumed new, as an order id is (ADR 14: the claim's write checks it), and
    /// both run at once: the two appends share a group commit and the placement waits for two
    /// writes, not three. A buyer seen before claims first and reserves only with the claim,
    /// so that a bot's orders beyond the limit never hold a unit, even for a moment (at most
    /// its first order per node runs at once). Answers whether this call appended the claim,
    /// and the reservation's outcome.
    async fn claim_and_reserve(
        &self,
        meta: &EventMetadata,
        campaign: &Campaign,
        buyer: &BuyerId,
        order_id: OrderId,
        quantity: Quantity,
    ) -> Result<(bool, Result<(u32, bool), PlacementError>), Refused> {
        let details = details_of(campaign).map_err(|refusal| Refused {
            refusal,
            bucket: None,
        })?;
        let record = buyer_stream_id(&details.campaign_id, buyer);
        let first_seen = self.store.presume_new::<CampaignBuyer>(&record);
        let claiming = self.claim(meta, campaign, buyer, order_id, quantity);
        let reserving = self.reserve_in_buckets(meta, campaign, order_id, quantity);
        if !first_seen {
            let claimed = claiming.await.map_err(|refusal| Refused {
                refusal,
                bucket: None,
            })?;
            return Ok((claimed, reserving.await));
        }
        match futures::join!(claiming, reserving) {
            (Ok(claimed), reserved) => Ok((claimed, reserved)),
            (Err(refusal), reserved) => Err(Refused {
                refusal,
                bucket: reserved
                    .ok()
                    .and_then(|(bucket, appended)| appended.then_some(bucket)),
            }),
        }
    }

    /// Claims the order's units on the buyer's record; `true` when this call appended the
    /// claim.
    async fn claim(
        &self,
        meta: &EventMetadata,
        campaign: &Campaign,
        buyer: &BuyerId,
        order_id: OrderId,
        quantity: Quantity,
    ) -> Result<bool, PlacementError> {
        let details = details_of(campaign)?;
        let command = BuyerCommand::Claim {
            order_id,
            quantity,
            limit: details.limit_per_buyer,
            at: self.clock.now(),
        };
        let executed = on_buyer(
            &self.store,
            (&details.campaign_id, buyer),
            meta,
            format!("claim:{order_id}"),
            command,
        )
        .await
        .map_err(|err| store_side(err, PlacementError::Limit))?;
        Ok(executed.appended > 0)
    }

    /// Reserves the units in the bucket the order id hashes to, or in the next one that has
    /// them; answers the bucket and whether this call appended the reservation. Every bucket
    /// refusing is a sold-out campaign, each refusal given on its stream's written state.
    async fn reserve_in_buckets(
        &self,
        meta: &EventMetadata,
        campaign: &Campaign,
        order_id: OrderId,
        quantity: Quantity,
    ) -> Result<(u32, bool), PlacementError> {
        let details = details_of(campaign)?;
        let buckets = details.buckets.max(1);
        let first = u32::try_from(order_id.get() % u64::from(buckets)).unwrap_or(0);
        for step in 0..buckets {
            let bucket = (first + step) % buckets;
            let command = BucketCommand::Reserve {
                share: campaign.bucket_stock(bucket),
                order_id,
                quantity,
                at: self.clock.now(),
            };
            let reserved = on_bucket(
                &self.store,
                (&details.campaign_id, bucket),
                meta,
                format!("reserve:{order_id}"),
                command,
                |_| (),
            )
            .await;
            match reserved {
                Ok(executed) => return Ok((bucket, executed.appended > 0)),
                Err(ExecuteError::Domain(BucketError::SoldOut { .. })) => {}
                Err(ExecuteError::Domain(BucketError::Closed)) => {
                    return Err(PlacementError::Campaign(CampaignError::Ended {
                        ended_at: campaign.ends_at().unwrap_or(details.ends_at),
                    }));
                }
                Err(ExecuteError::Domain(BucketError::ReservationMismatch {
                    reserved,
                    requested,
                })) => {
                    return Err(PlacementError::Stock(
                        domain::SkuError::ReservationMismatch {
                            reserved,
                            requested,
                        },
                    ));
                }
                Err(other) => return Err(store_side(other, |_| PlacementError::Contention)),
            }
        }
        Err(PlacementError::CampaignSoldOut)
    }

    /// Appends `OrderPlaced`; when a racing placement of the id won (or rejected it), gives
    /// back what this one took and the winner does not hold.
    async fn append_campaign_placement(
        &self,
        meta: &EventMetadata,
        command: &PlaceOrder,
        campaign: &Campaign,
        taken: Taken,
    ) -> Result<Placed, PlacementError> {
        let id = command.order_id.to_string();
        let placed = self.append_order(meta, command).await;
        match placed {
            Ok(Executed {
                aggregate,
                version,
                appended,
            }) => {
                if aggregate.exists() {
                    let surplus = not_held(&aggregate, taken);
                    self.give_back(meta, command, campaign, surplus).await?;
                    Ok(Placed {
                        order: aggregate,
                        version,
                        created: appended > 0,
                    })
                } else {
                    // the dedup key found a rejection appended by a racing placement
                    self.give_back(meta, command, campaign, taken).await?;
                    Err(PlacementError::Order(OrderError::PlacementWasRejected))
                }
            }
            Err(ExecuteError::Domain(err)) => {
                let winner = self.store.load::<Order>(&id).await?.aggregate;
                let surplus = not_held(&winner, taken);
                self.give_back(meta, command, campaign, surplus).await?;
                Err(PlacementError::Order(err))
            }
            Err(other) => Err(other.into()),
        }
    }

    /// Claims the order id with a rejection, then gives back what this placement took; when
    /// a racing placement placed the order first, only what it does not hold.
    async fn abandon_in_campaign(
        &self,
        meta: &EventMetadata,
        placing: &PlaceOrder,
        reason: RejectionReason,
        campaign: &Campaign,
        taken: Taken,
    ) -> Result<(), PlacementError> {
        let to_give_back = match self.claim_with_rejection(meta, placing, reason).await? {
            None => taken,
            Some(winner) => not_held(&winner, taken),
        };
        self.give_back(meta, placing, campaign, to_give_back).await
    }

    /// Releases the bucket's units and returns the claim that `taken` names.
    async fn give_back(
        &self,
        meta: &EventMetadata,
        placing: &PlaceOrder,
        campaign: &Campaign,
        taken: Taken,
    ) -> Result<(), PlacementError> {
        let details = details_of(campaign)?;
        let order_id = placing.order_id;
        if let Some(bucket) = taken.bucket {
            let command = BucketCommand::Release {
                share: campaign.bucket_stock(bucket),
                order_id,
                at: self.clock.now(),
            };
            on_bucket(
                &self.store,
                (&details.campaign_id, bucket),
                meta,
                format!("release:{order_id}"),
                command,
                |_| (),
            )
            .await
            .map_err(|err| store_side(err, |_| PlacementError::Contention))?;
        }
        if taken.claimed {
            let command = BuyerCommand::Return {
                order_id,
                at: self.clock.now(),
            };
            on_buyer(
                &self.store,
                (&details.campaign_id, &placing.buyer),
                meta,
                format!("return:{order_id}"),
                command,
            )
            .await
            .map_err(|err| store_side(err, PlacementError::Limit))?;
        }
        Ok(())
    }
}

/// What of `taken` the order placed under its id does not hold: its claim is the order id's
/// (whoever appended it) when the order is in a campaign, and its units are in the bucket it
/// names.
fn not_held(winner: &Order, taken: Taken) -> Taken {
    let Some(line) = winner.campaign() else {
        return taken;
    };
    Taken {
        claimed: false,
        bucket: taken.bucket.filter(|bucket| *bucket != line.bucket),
    }
}

/// What the campaign was created with; a campaign without it is not found.
fn details_of(campaign: &Campaign) -> Result<&CampaignCreated, PlacementError> {
    campaign
        .details()
        .ok_or(PlacementError::Campaign(CampaignError::NotFound))
}

fn not_campaign_line(campaign: &Campaign) -> PlacementError {
    match campaign.details() {
        Some(details) => PlacementError::NotCampaignLine {
            sku: details.sku.clone(),
            limit: details.limit_per_buyer.get(),
        },
        None => PlacementError::Campaign(CampaignError::NotFound),
    }
}
