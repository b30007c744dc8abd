//! Placing a checked-out order.
//!
//! 1. The checkout token must be valid for this buyer and order id.
//! 2. An order that already exists answers with itself when the content is the same, else it
//!    is a conflict. A node that has seen the order answers before touching stock; a node that
//!    has not presumes the id new (ADR 14) and learns otherwise when it writes the order, and
//!    then releases what it reserved that the order does not hold.
//! 3. Every line's product snapshot version must be current (else `ProductChanged`); nothing
//!    is written. "Current" is as this process keeps the product, at most the staleness bound
//!    behind the log (ADR 16); a refusal is checked on the log.
//! 4. Stock is reserved on every SKU, in SKU order, keyed by the order id: a retry or a racing
//!    duplicate reserves nothing twice, and no SKU goes below zero.
//! 5. `OrderPlaced` is appended as the order stream's first event.
//!
//! Whoever appends an order stream's first event decides its id's reservations: a failed
//! placement first appends `PlacementRejected` and only then releases what it reserved, and
//! a placement that loses the race releases only what the winner does not use.
//!
//! An order in a flash-sale campaign ([`campaign`]) follows the same steps with the campaign's
//! records in place of the SKU's stock: it claims its units on the buyer's record of the
//! per-buyer limit, then reserves in one of the campaign's buckets.

mod campaign;
mod error;

pub use error::PlacementError;

use std::collections::{BTreeSet, HashMap};

use domain::{
    BuyerId, CampaignId, ItemRequest, Money, Order, OrderCommand, OrderError, OrderId, PlaceOrder,
    Product, ProductSnapshot, Quantity, RejectPlacement, RejectionReason, ReleaseStock,
    ReserveStock, Sku, SkuCommand, SkuError, SkuId,
};
use event_store::{EventMetadata, ExecuteError, Executed, Loaded, StoreError};
use shards::Stores;

use super::Clock;
use crate::checkout_token::CheckoutTokens;

/// One line of an order to place, parsed.
#[derive(Debug, Clone)]
pub struct OrderLine {
    /// SKU.
    pub sku: SkuId,
    /// Units.
    pub quantity: Quantity,
    /// The product snapshot version the buyer saw.
    pub product_version: u32,
}

/// An order to place: a checked-out id, its token, and what to buy.
#[derive(Debug, Clone)]
pub struct PlaceRequest {
    /// The buyer placing it (the checkout token's buyer).
    pub buyer: BuyerId,
    /// The id from checkout.
    pub order_id: OrderId,
    /// The checkout token issued with the id.
    pub checkout_token: String,
    /// One line per SKU, all from one seller.
    pub lines: Vec<OrderLine>,
    /// The flash-sale campaign the order is placed in, if any: then its one line is of the
    /// campaign's SKU.
    pub campaign: Option<CampaignId>,
}

/// A placed order.
#[derive(Debug)]
pub struct Placed {
    /// The order's state.
    pub order: Order,
    /// The order stream's version (its ETag).
    pub version: u64,
    /// `false`: the same order was placed before, and this call changed nothing.
    pub created: bool,
}

/// The placement use case.
#[derive(Clone, Debug)]
pub struct Placement {
    store: Stores,
    clock: Clock,
    checkout: CheckoutTokens,
    payment_timeout: chrono::Duration,
}

impl Placement {
    /// Placement over `store`, checking tokens with `checkout`; each order is due to be paid
    /// `payment_timeout` after it is placed.
    pub fn new(
        store: Stores,
        clock: Clock,
        checkout: CheckoutTokens,
        payment_timeout: chrono::Duration,
    ) -> Self {
        Self {
            store,
            clock,
            checkout,
            payment_timeout,
        }
    }

    /// Places the order, or answers the order placed before with the same content.
    pub async fn place(
        &self,
        request: PlaceRequest,
        meta: &EventMetadata,
    ) -> Result<Placed, PlacementError> {
        let PlaceRequest {
            buyer,
            order_id,
            checkout_token,
            lines,
            campaign,
        } = request;
        if !self
            .checkout
            .verify(&checkout_token, order_id.get(), buyer.as_str())
        {
            return Err(PlacementError::InvalidToken);
        }
        check_lines(&lines)?;
        if let Some(campaign) = campaign {
            return self
                .place_in_campaign(buyer, order_id, lines, &campaign, meta)
                .await;
        }
        let id = order_id.to_string();

        // A fresh id's stream is presumed empty, unread (ADR 14): the order's write at version
        // 0 finds out when it is not. Through the order's slot, so the placement below starts
        // from this state.
        let existing = self.store.current_or_new::<Order>(&id).await?;
        if existing.aggregate.rejection().is_some() {
            return Err(PlacementError::Order(OrderError::PlacementWasRejected));
        }
        let snapshots = self.current_snapshots(&lines).await?;
        let now = self.clock.now();
        let command = PlaceOrder {
            order_id,
            buyer: buyer.clone(),
            seller: snapshots[0].seller.clone(),
            items: lines
                .iter()
                .zip(snapshots)
                .map(|(line, snapshot)| ItemRequest {
                    quantity: line.quantity,
                    snapshot,
                })
                .collect(),
            discount: Money::zero(),
            placed_at: now,
            payment_due_at: now + self.payment_timeout,
            campaign: None,
        };
        if let Some(repeat) = self.decide_first(existing, &id, &command).await? {
            return Ok(repeat);
        }
        let reserved = self.reserve_all(meta, &command).await?;
        self.append_placement(meta, &command, reserved).await
    }

    /// Decides on the order as loaded before touching stock: a repeat answers at once
    /// (`Some`), and an order the domain would refuse reserves nothing.
    async fn decide_first(
        &self,
        mut existing: Loaded<Order>,
        id: &str,
        command: &PlaceOrder,
    ) -> Result<Option<Placed>, PlacementError> {
        let place = || OrderCommand::PlaceOrder(command.clone());
        let mut decided = existing.aggregate.decide(place());
        if decided.is_err() && existing.version == 0 {
            // a refusal is given on the log's word, not on a presumption (a rejected id
            // included: the domain refuses to place it)
            existing = self.store.current::<Order>(id).await?;
            decided = existing.aggregate.decide(place());
        }
        if decided.map_err(PlacementError::Order)?.is_empty() {
            return Ok(Some(Placed {
                order: existing.aggregate,
                version: existing.version,
                created: false,
            }));
        }
        Ok(None)
    }

    /// Reserves every line's units, every SKU at once (each is its own stream, and each
    /// reservation waits for its write); answers what this call reserved. When a SKU refuses,
    /// the order id is claimed with a rejection and what was reserved here is released.
    async fn reserve_all(
        &self,
        meta: &EventMetadata,
        command: &PlaceOrder,
    ) -> Result<Vec<(SkuId, Quantity)>, PlacementError> {
        let mut ordered: Vec<&ItemRequest> = command.items.iter().collect();
        ordered.sort_by(|a, b| a.snapshot.sku.cmp(&b.snapshot.sku));
        let reservations =
            futures::future::join_all(ordered.iter().map(|item| {
                self.reserve(meta, command.order_id, &item.snapshot.sku, item.quantity)
            }))
            .await;
        let mut reserved_here = Vec::new();
        let mut refused = None;
        let mut failed = None;
        for (item, reservation) in ordered.iter().zip(reservations) {
            let sku = &item.snapshot.sku;
            match reservation {
                Ok(true) => reserved_here.push((sku.clone(), item.quantity)),
                Ok(false) => {}
                Err(ExecuteError::Domain(err)) => {
                    refused.get_or_insert((sku.clone(), err));
                }
                Err(other) => {
                    failed.get_or_insert(other);
                }
            }
        }
        // The store failed: what was reserved stays until the order id's placement is settled
        // by a later retry (or released as abandoned).
        if let Some(other) = failed {
            return Err(other.into());
        }
        if let Some((sku, err)) = refused {
            let reason = match err {
                SkuError::ReservationMismatch { .. } => {
                    RejectionReason::ConflictingPlacement { sku }
                }
                _ => RejectionReason::OutOfStock { sku },
            };
            self.abandon(meta, command, reason, &reserved_here).await?;
            return Err(PlacementError::Stock(err));
        }
        Ok(reserved_here)
    }

    /// Appends `OrderPlaced`; when a racing placement of the id won (or rejected it), gives
    /// back what this one reserved and the winner does not hold.
    async fn append_placement(
        &self,
        meta: &EventMetadata,
        command: &PlaceOrder,
        reserved_here: Vec<(SkuId, Quantity)>,
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
                    // the deadline is the deadline reaction's to record (a batch at a time)
                    Ok(Placed {
                        order: aggregate,
                        version,
                        created: appended > 0,
                    })
                } else {
                    // the dedup key found a rejection appended by a racing placement
                    self.release(meta, command.order_id, &reserved_here).await?;
                    Err(PlacementError::Order(OrderError::PlacementWasRejected))
                }
            }
            Err(ExecuteError::Domain(err)) => {
                let surplus = self.not_held_by_winner(&id, &reserved_here).await?;
                self.release(meta, command.order_id, &surplus).await?;
                Err(PlacementError::Order(err))
            }
            Err(other) => Err(other.into()),
        }
    }

    /// Appends the order's `OrderPlaced`, keyed by its order id.
    async fn append_order(
        &self,
        meta: &EventMetadata,
        command: &PlaceOrder,
    ) -> Result<Executed<Order>, ExecuteError<OrderError>> {
        let order_meta = EventMetadata {
            dedup_key: Some(format!("place:{}", command.order_id)),
            ..meta.clone()
        };
        let id = command.order_id.to_string();
        self.store
            .execute::<Order, _>(&id, None, &order_meta, |o| {
                o.decide(OrderCommand::PlaceOrder(command.clone()))
            })
            .await
    }

    /// Every line's current product snapshot, which must be the version the buyer saw, and
    /// all from one seller. The products are checked as this process keeps them, at most the
    /// store's staleness bound behind the log (ADR 16); a check that fails is made again on
    /// the log, so a refusal is never given on a kept state.
    async fn current_snapshots(
        &self,
        lines: &[OrderLine],
    ) -> Result<Vec<ProductSnapshot>, PlacementError> {
        let skus: Vec<&str> = lines.iter().map(|line| line.sku.as_str()).collect();
        let kept = self.store.load_many_fresh::<Product>(&skus).await?;
        match check_snapshots(&kept, lines) {
            Ok(snapshots) => Ok(snapshots),
            Err(_) => check_snapshots(&self.store.load_many::<Product>(&skus).await?, lines),
        }
    }

    /// Reserves `quantity` of `sku` for the order; `true` when this call appended the
    /// reservation.
    async fn reserve(
        &self,
        meta: &EventMetadata,
        order_id: OrderId,
        sku: &SkuId,
        quantity: Quantity,
    ) -> Result<bool, ExecuteError<SkuError>> {
        let meta = EventMetadata {
            dedup_key: Some(format!("reserve:{order_id}")),
            ..meta.clone()
        };
        let command = ReserveStock {
            order_id,
            quantity,
            at: self.clock.now(),
        };
        let executed = self
            .store
            .execute_with(
                sku.as_str(),
                None,
                &meta,
                |stock: &Sku| stock.decide(SkuCommand::ReserveStock(command.clone())),
                |_| (),
            )
            .await?;
        Ok(executed.appended > 0)
    }

    /// Claims the order id with a rejection, then releases what this placement reserved.
    /// When a racing placement placed the order first, only what it does not hold is
    /// released.
    async fn abandon(
        &self,
        meta: &EventMetadata,
        placing: &PlaceOrder,
        reason: RejectionReason,
        reserved_here: &[(SkuId, Quantity)],
    ) -> Result<(), PlacementError> {
        let to_release = match self.claim_with_rejection(meta, placing, reason).await? {
            None => reserved_here.to_vec(),
            Some(winner) => not_held_by(&winner, reserved_here),
        };
        self.release(meta, placing.order_id, &to_release).await
    }

    /// Claims `placing`'s order id with `PlacementRejected`, so that it is never placed on
    /// what a failed placement gives back. Answers `None` when the rejection took the id, or
    /// the order a racing placement placed first.
    async fn claim_with_rejection(
        &self,
        meta: &EventMetadata,
        placing: &PlaceOrder,
        reason: RejectionReason,
    ) -> Result<Option<Order>, PlacementError> {
        let command = RejectPlacement {
            order_id: placing.order_id,
            buyer: placing.buyer.clone(),
            reason,
            at: self.clock.now(),
        };
        let id = placing.order_id.to_string();
        let rejected = self
            .store
            .execute::<Order, _>(&id, None, meta, |order| {
                order.decide(OrderCommand::RejectPlacement(command.clone()))
            })
            .await;
        match rejected {
            Ok(_) => Ok(None),
            Err(ExecuteError::Domain(OrderError::AlreadyPlaced)) => {
                Ok(Some(self.store.load::<Order>(&id).await?.aggregate))
            }
            Err(other) => Err(other.into()),
        }
    }

    /// What of `reserved_here` the order stream `id`, placed by another request, does not
    /// hold.
    async fn not_held_by_winner(
        &self,
        id: &str,
        reserved_here: &[(SkuId, Quantity)],
    ) -> Result<Vec<(SkuId, Quantity)>, StoreError> {
        let winner = self.store.load::<Order>(id).await?.aggregate;
        Ok(not_held_by(&winner, reserved_here))
    }

    async fn release(
        &self,
        meta: &EventMetadata,
        order_id: OrderId,
        reserved: &[(SkuId, Quantity)],
    ) -> Result<(), PlacementError> {
        let meta = EventMetadata {
            dedup_key: Some(format!("release:{order_id}")),
            ..meta.clone()
        };
        for (sku, _) in reserved {
            let command = ReleaseStock {
                order_id,
                at: self.clock.now(),
            };
            self.store
                .execute_with(
                    sku.as_str(),
                    None,
                    &meta,
                    |stock: &Sku| stock.decide(SkuCommand::ReleaseStock(command.clone())),
                    |_| (),
                )
                .await?;
        }
        Ok(())
    }
}

/// An order's lines before anything is read: some, not too many, each SKU once.
fn check_lines(lines: &[OrderLine]) -> Result<(), PlacementError> {
    if lines.is_empty() {
        return Err(PlacementError::NoItems);
    }
    if lines.len() > domain::ORDER_ITEMS_MAX {
        return Err(PlacementError::TooManyItems {
            max: domain::ORDER_ITEMS_MAX,
        });
    }
    let mut seen = BTreeSet::new();
    for (line, item) in lines.iter().enumerate() {
        if !seen.insert(&item.sku) {
            return Err(PlacementError::DuplicateSku { line });
        }
    }
    Ok(())
}

/// The snapshots of `products` for `lines`, when each is the version the buyer saw, and all
/// from one seller.
fn check_snapshots(
    products: &HashMap<String, Loaded<Product>>,
    lines: &[OrderLine],
) -> Result<Vec<ProductSnapshot>, PlacementError> {
    let mut snapshots: Vec<ProductSnapshot> = Vec::with_capacity(lines.len());
    for (line, item) in lines.iter().enumerate() {
        let Some(snapshot) = products
            .get(item.sku.as_str())
            .and_then(|product| product.aggregate.snapshot())
        else {
            return Err(PlacementError::UnknownProduct {
                line,
                sku: item.sku.clone(),
            });
        };
        if snapshot.version != item.product_version {
            return Err(PlacementError::ProductChanged {
                line,
                sku: item.sku.clone(),
                current: snapshot.version,
                price_cents: snapshot.unit_price.minor(),
                seen: item.product_version,
            });
        }
        if snapshots
            .first()
            .is_some_and(|first| first.seller != snapshot.seller)
        {
            return Err(PlacementError::MixedSellers { line });
        }
        snapshots.push(snapshot);
    }
    Ok(snapshots)
}

/// What of `reserved_here` the order `winner`, placed by another request, does not hold.
fn not_held_by(winner: &Order, reserved_here: &[(SkuId, Quantity)]) -> Vec<(SkuId, Quantity)> {
    reserved_here
        .iter()
        .filter(|(sku, quantity)| {
            !winner
                .items()
                .iter()
                .any(|item| &item.sku == sku && item.quantity == *quantity)
        })
        .cloned()
        .collect()
}
