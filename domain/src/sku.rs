//! The `Sku` aggregate: the stock of one SKU; its aggregate id is the SKU id.
//!
//! Every unit is in exactly one place: available, reserved (for an order that is not paid
//! yet), sold, or out in flash-sale campaigns, so `available + reserved + sold + in_campaigns
//! == initial stock + stock added`, and available never goes below zero. Reservations are keyed by order id, which is also the dedup key of
//! every reservation command: each order reserves at most once, and its reservation ends at
//! most once, either released (back to available) or deducted (sold).
//!
//! An ended reservation is remembered for [`SETTLED_RESERVATION_KEPT_SECS`] after it ended (by
//! the events' own times, so every replay keeps the same ones), then forgotten: a hot SKU's
//! state holds its open reservations and the recently ended ones, not every order it ever
//! served. Within that window a late reservation for an ended order is a repeat or a mismatch,
//! as before; after it, the order's own stream is what refuses a second placement (an order
//! id is placed or rejected once, ADR 5), so the SKU never sees that order reserve again.

use std::collections::{BTreeMap, VecDeque};

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};

use crate::{CampaignId, OrderId, Quantity, SellerId, SkuId};

/// A command to the `Sku` aggregate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkuCommand {
    /// Start tracking the stock of a SKU.
    CreateSku(CreateSku),
    /// Receive more stock.
    AddStock(AddStock),
    /// Hold units for an order that awaits payment.
    ReserveStock(ReserveStock),
    /// Give an order's held units back (the order was cancelled).
    ReleaseStock(ReleaseStock),
    /// Sell an order's held units (the order was paid).
    DeductStock(DeductStock),
    /// Take units out of available for a flash-sale campaign.
    AllocateToCampaign(CampaignStock),
    /// Give a campaign's unsold units back to available.
    ReturnFromCampaign(CampaignStock),
}

/// Units moving between a SKU and one of its campaigns; `quantity` must be positive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CampaignStock {
    /// The campaign.
    pub campaign_id: CampaignId,
    /// Units.
    pub quantity: u32,
    /// When.
    pub at: DateTime<Utc>,
}

/// Start tracking the stock of a SKU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateSku {
    /// The SKU (also the aggregate id).
    pub sku: SkuId,
    /// Who sells it.
    pub seller: SellerId,
    /// Units available from the start (may be zero).
    pub initial_stock: u32,
    /// When.
    pub at: DateTime<Utc>,
}

/// Receive more stock; `quantity` must be positive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddStock {
    /// Units received.
    pub quantity: u32,
    /// When.
    pub at: DateTime<Utc>,
}

/// Hold `quantity` units for an order; a second reservation for the same order changes nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReserveStock {
    /// The order (the reservation's key).
    pub order_id: OrderId,
    /// Units to hold.
    pub quantity: Quantity,
    /// When.
    pub at: DateTime<Utc>,
}

/// Return an order's held units to available; changes nothing unless they are still held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseStock {
    /// The order.
    pub order_id: OrderId,
    /// When.
    pub at: DateTime<Utc>,
}

/// Move an order's held units to sold; changes nothing unless they are still held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeductStock {
    /// The order.
    pub order_id: OrderId,
    /// When.
    pub at: DateTime<Utc>,
}

/// An event of the `Sku` aggregate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SkuEvent {
    /// Stock tracking started.
    SkuCreated(SkuCreated),
    /// Stock was received.
    StockAdded(StockAdded),
    /// Units were held for an order.
    StockReserved(StockReserved),
    /// An order's held units went back to available.
    StockReleased(StockReleased),
    /// An order's held units were sold.
    StockDeducted(StockDeducted),
    /// Units were taken for a campaign.
    StockAllocated(CampaignStockMoved),
    /// A campaign's units came back.
    StockReturned(CampaignStockMoved),
}

/// Units moved between the SKU and a campaign.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CampaignStockMoved {
    /// The campaign.
    pub campaign_id: CampaignId,
    /// Units.
    pub quantity: u32,
    /// When.
    #[serde(with = "crate::timestamp")]
    pub at: DateTime<Utc>,
}

/// Stock tracking of a SKU started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkuCreated {
    /// The SKU.
    pub sku: SkuId,
    /// Who sells it.
    pub seller: SellerId,
    /// Units available from the start.
    pub initial_stock: u32,
    /// When.
    #[serde(with = "crate::timestamp")]
    pub at: DateTime<Utc>,
}

/// Stock was received.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockAdded {
    /// Units received.
    pub quantity: u32,
    /// When.
    #[serde(with = "crate::timestamp")]
    pub at: DateTime<Utc>,
}

/// Units were held for an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockReserved {
    /// The order.
    pub order_id: OrderId,
    /// Units held.
    pub quantity: Quantity,
    /// When.
    #[serde(with = "crate::timestamp")]
    pub at: DateTime<Utc>,
}

/// An order's held units went back to available.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockReleased {
    /// The order.
    pub order_id: OrderId,
    /// Units released: all that the order held.
    pub quantity: Quantity,
    /// When.
    #[serde(with = "crate::timestamp")]
    pub at: DateTime<Utc>,
}

/// An order's held units were sold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockDeducted {
    /// The order.
    pub order_id: OrderId,
    /// Units sold: all that the order held.
    pub quantity: Quantity,
    /// When.
    #[serde(with = "crate::timestamp")]
    pub at: DateTime<Utc>,
}

impl DomainEvent for SkuEvent {
    fn event_type(&self) -> String {
        match self {
            Self::SkuCreated(_) => "SkuCreated",
            Self::StockAdded(_) => "StockAdded",
            Self::StockReserved(_) => "StockReserved",
            Self::StockReleased(_) => "StockReleased",
            Self::StockDeducted(_) => "StockDeducted",
            Self::StockAllocated(_) => "StockAllocated",
            Self::StockReturned(_) => "StockReturned",
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        "1.0".to_owned()
    }
}

/// Why the `Sku` aggregate refused a command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SkuError {
    /// `CreateSku` for a SKU whose stock is already tracked.
    #[error("stock of this SKU is already tracked")]
    AlreadyExists,
    /// A command other than `CreateSku` for a SKU whose stock is not tracked.
    #[error("SKU not found")]
    NotFound,
    /// A reservation for more units than are available; nothing was reserved.
    #[error("insufficient stock: {available} available, {requested} requested")]
    InsufficientStock {
        /// Units available.
        available: u64,
        /// Units asked for.
        requested: u32,
    },
    /// A reservation for an order that already reserved another quantity of this SKU.
    #[error("this order already reserved {reserved} units, not {requested}")]
    ReservationMismatch {
        /// Units the order holds.
        reserved: u32,
        /// Units asked for now.
        requested: u32,
    },
    /// `AddStock` (or a campaign's stock) of zero units.
    #[error("added stock must be positive")]
    ZeroStockAdded,
    /// The stock count would pass `u64::MAX`.
    #[error("stock count overflow")]
    Overflow,
}

/// Where an order's reservation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReservationStatus {
    /// The units are held for the order.
    Reserved,
    /// The units went back to available.
    Released,
    /// The units were sold.
    Deducted,
}

/// An order's reservation of units of this SKU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation {
    /// Units reserved.
    pub quantity: Quantity,
    /// Where it stands.
    pub status: ReservationStatus,
}

/// How long an ended (released or sold) reservation is remembered after it ended, in seconds
/// of the events' time: far longer than a placement takes, so that a racing duplicate of a
/// placement still finds the reservation it repeats.
pub const SETTLED_RESERVATION_KEPT_SECS: i64 = 600;

/// The `Sku` aggregate: the stock of one SKU.
///
/// Open reservations are remembered until they end, ended ones for
/// [`SETTLED_RESERVATION_KEPT_SECS`] more: the state is flat in the SKU's order count.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sku {
    sku: Option<SkuId>,
    seller: Option<SellerId>,
    available: u64,
    reserved: u64,
    sold: u64,
    /// Units out in campaigns (reserved or sold there, or still for sale).
    #[serde(default)]
    in_campaigns: u64,
    reservations: BTreeMap<OrderId, Reservation>,
    /// The ended reservations still remembered, oldest first, with when each ended.
    #[serde(default)]
    ended: VecDeque<(DateTime<Utc>, OrderId)>,
}

impl Sku {
    /// The SKU, `None` when its stock is not tracked.
    pub fn sku(&self) -> Option<&SkuId> {
        self.sku.as_ref()
    }

    /// Who sells it, `None` when its stock is not tracked.
    pub fn seller(&self) -> Option<&SellerId> {
        self.seller.as_ref()
    }

    /// Units that can be reserved.
    pub const fn available(&self) -> u64 {
        self.available
    }

    /// Units held for orders awaiting payment.
    pub const fn reserved(&self) -> u64 {
        self.reserved
    }

    /// Units sold.
    pub const fn sold(&self) -> u64 {
        self.sold
    }

    /// Units out in flash-sale campaigns: taken and not (yet) given back.
    pub const fn in_campaigns(&self) -> u64 {
        self.in_campaigns
    }

    /// The reservation of an order, `None` when it never reserved this SKU (or its ended
    /// reservation was forgotten, [`SETTLED_RESERVATION_KEPT_SECS`] after it ended).
    pub fn reservation(&self, order_id: OrderId) -> Option<Reservation> {
        self.reservations.get(&order_id).copied()
    }

    /// How many reservations the state holds: the open ones and the recently ended ones.
    pub fn reservations_kept(&self) -> usize {
        self.reservations.len()
    }

    /// Decides what a command changes, without changing anything.
    pub fn decide(&self, command: SkuCommand) -> Result<Vec<SkuEvent>, SkuError> {
        if let SkuCommand::CreateSku(command) = command {
            return self.create(command);
        }
        if self.sku.is_none() {
            return Err(SkuError::NotFound);
        }
        match command {
            SkuCommand::CreateSku(command) => self.create(command),
            SkuCommand::AddStock(command) => self.add(command),
            SkuCommand::ReserveStock(command) => self.reserve(command),
            SkuCommand::ReleaseStock(command) => Ok(self
                .held(command.order_id)
                .map(|quantity| {
                    SkuEvent::StockReleased(StockReleased {
                        order_id: command.order_id,
                        quantity,
                        at: command.at,
                    })
                })
                .into_iter()
                .collect()),
            SkuCommand::DeductStock(command) => Ok(self
                .held(command.order_id)
                .map(|quantity| {
                    SkuEvent::StockDeducted(StockDeducted {
                        order_id: command.order_id,
                        quantity,
                        at: command.at,
                    })
                })
                .into_iter()
                .collect()),
            SkuCommand::AllocateToCampaign(command) => {
                if command.quantity == 0 {
                    return Err(SkuError::ZeroStockAdded);
                }
                if u64::from(command.quantity) > self.available {
                    return Err(SkuError::InsufficientStock {
                        available: self.available,
                        requested: command.quantity,
                    });
                }
                Ok(vec![SkuEvent::StockAllocated(CampaignStockMoved {
                    campaign_id: command.campaign_id,
                    quantity: command.quantity,
                    at: command.at,
                })])
            }
            SkuCommand::ReturnFromCampaign(command) => {
                if command.quantity == 0 {
                    return Err(SkuError::ZeroStockAdded);
                }
                // a campaign never returns more than it took: its buckets account for each unit
                let quantity = command
                    .quantity
                    .min(u32::try_from(self.in_campaigns).unwrap_or(u32::MAX));
                if quantity == 0 {
                    return Ok(vec![]);
                }
                Ok(vec![SkuEvent::StockReturned(CampaignStockMoved {
                    campaign_id: command.campaign_id,
                    quantity,
                    at: command.at,
                })])
            }
        }
    }

    fn create(&self, command: CreateSku) -> Result<Vec<SkuEvent>, SkuError> {
        if self.sku.is_some() {
            return Err(SkuError::AlreadyExists);
        }
        Ok(vec![SkuEvent::SkuCreated(SkuCreated {
            sku: command.sku,
            seller: command.seller,
            initial_stock: command.initial_stock,
            at: command.at,
        })])
    }

    fn add(&self, command: AddStock) -> Result<Vec<SkuEvent>, SkuError> {
        if command.quantity == 0 {
            return Err(SkuError::ZeroStockAdded);
        }
        // Checked here so that `apply` can never overflow.
        self.available
            .checked_add(self.reserved)
            .and_then(|units| units.checked_add(self.sold))
            .and_then(|units| units.checked_add(u64::from(command.quantity)))
            .ok_or(SkuError::Overflow)?;
        Ok(vec![SkuEvent::StockAdded(StockAdded {
            quantity: command.quantity,
            at: command.at,
        })])
    }

    fn reserve(&self, command: ReserveStock) -> Result<Vec<SkuEvent>, SkuError> {
        if let Some(existing) = self.reservations.get(&command.order_id) {
            // the same order asking again is a retry; asking for another quantity is not
            return if existing.quantity == command.quantity {
                Ok(vec![])
            } else {
                Err(SkuError::ReservationMismatch {
                    reserved: existing.quantity.get(),
                    requested: command.quantity.get(),
                })
            };
        }
        let requested = command.quantity.get();
        if u64::from(requested) > self.available {
            return Err(SkuError::InsufficientStock {
                available: self.available,
                requested,
            });
        }
        Ok(vec![SkuEvent::StockReserved(StockReserved {
            order_id: command.order_id,
            quantity: command.quantity,
            at: command.at,
        })])
    }

    /// The units an order holds right now, if any.
    fn held(&self, order_id: OrderId) -> Option<Quantity> {
        self.reservations
            .get(&order_id)
            .filter(|r| r.status == ReservationStatus::Reserved)
            .map(|r| r.quantity)
    }

    fn end_reservation(
        &mut self,
        order_id: OrderId,
        status: ReservationStatus,
        at: DateTime<Utc>,
    ) -> u64 {
        match self.reservations.get_mut(&order_id) {
            Some(reservation) if reservation.status == ReservationStatus::Reserved => {
                reservation.status = status;
                let units = u64::from(reservation.quantity.get());
                self.reserved = self.reserved.saturating_sub(units);
                self.ended.push_back((at, order_id));
                units
            }
            _ => 0,
        }
    }

    /// Forgets the reservations that ended more than [`SETTLED_RESERVATION_KEPT_SECS`] before
    /// `now` (an event's time).
    fn forget_ended_before(&mut self, now: DateTime<Utc>) {
        let horizon = now - chrono::Duration::seconds(SETTLED_RESERVATION_KEPT_SECS);
        while let Some(&(ended_at, order_id)) = self.ended.front() {
            if ended_at >= horizon {
                break;
            }
            self.ended.pop_front();
            self.reservations.remove(&order_id);
        }
    }
}

impl Aggregate for Sku {
    const TYPE: &'static str = "Sku";
    type Command = SkuCommand;
    type Event = SkuEvent;
    type Error = SkuError;
    type Services = ();

    async fn handle(
        &mut self,
        command: SkuCommand,
        _services: &(),
        sink: &EventSink<Self>,
    ) -> Result<(), SkuError> {
        for event in self.decide(command)? {
            sink.write(event, self).await;
        }
        Ok(())
    }

    // `decide` only emits events that keep the counts in range; saturating arithmetic keeps a
    // corrupt log from panicking the process.
    fn apply(&mut self, event: SkuEvent) {
        match event {
            SkuEvent::SkuCreated(e) => {
                self.sku = Some(e.sku);
                self.seller = Some(e.seller);
                self.available = u64::from(e.initial_stock);
            }
            SkuEvent::StockAdded(e) => {
                self.available = self.available.saturating_add(u64::from(e.quantity));
            }
            SkuEvent::StockReserved(e) => {
                let units = u64::from(e.quantity.get());
                self.available = self.available.saturating_sub(units);
                self.reserved = self.reserved.saturating_add(units);
                self.reservations.insert(
                    e.order_id,
                    Reservation {
                        quantity: e.quantity,
                        status: ReservationStatus::Reserved,
                    },
                );
                self.forget_ended_before(e.at);
            }
            SkuEvent::StockReleased(e) => {
                let units = self.end_reservation(e.order_id, ReservationStatus::Released, e.at);
                self.available = self.available.saturating_add(units);
                self.forget_ended_before(e.at);
            }
            SkuEvent::StockDeducted(e) => {
                let units = self.end_reservation(e.order_id, ReservationStatus::Deducted, e.at);
                self.sold = self.sold.saturating_add(units);
                self.forget_ended_before(e.at);
            }
            SkuEvent::StockAllocated(e) => {
                let units = u64::from(e.quantity);
                self.available = self.available.saturating_sub(units);
                self.in_campaigns = self.in_campaigns.saturating_add(units);
            }
            SkuEvent::StockReturned(e) => {
                let units = u64::from(e.quantity);
                self.in_campaigns = self.in_campaigns.saturating_sub(units);
                self.available = self.available.saturating_add(units);
            }
        }
    }
}
