//! The `CampaignBucket` aggregate: one share of a campaign's stock, its own stream (ADR 38).
//!
//! A bucket opens with its share (`Campaign::bucket_stock`) on its first command, so creating
//! a campaign writes no bucket stream and no crash can leave a campaign half opened. Every
//! unit is in exactly one place: `available + reserved + sold + returned == share`, and
//! available never goes below zero. Reservations are keyed by order id, like the SKU's: an
//! order reserves at most once per bucket, and its reservation ends at most once. A closed
//! bucket (the campaign ended) reserves nothing more; what it held available went back to the
//! SKU when it closed, and a reservation released after that is marked to go back to the SKU
//! too, never to the campaign.
//!
//! The state holds one entry per reservation a bucket ever made: at most its share plus the
//! units released and reserved again, whatever the number of buyers who were turned away.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};

use crate::{CampaignId, OrderId, Quantity, ReservationStatus};

/// The aggregate id of bucket `bucket` of `campaign`.
pub fn bucket_stream_id(campaign: &CampaignId, bucket: u32) -> String {
    format!("{campaign}.{bucket}")
}

/// The campaign and the bucket that a bucket's aggregate id names: the inverse of
/// [`bucket_stream_id`]; `None` for an id it did not make.
pub fn parse_bucket_stream_id(id: &str) -> Option<(CampaignId, u32)> {
    let (campaign, bucket) = id.rsplit_once('.')?;
    Some((CampaignId::parse(campaign).ok()?, bucket.parse().ok()?))
}

/// A command to a `CampaignBucket`. Each carries the bucket's share, which opens the bucket
/// on its first command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BucketCommand {
    /// Hold units for an order.
    Reserve {
        /// The bucket's share of the campaign's stock.
        share: u32,
        /// The order (the reservation's key).
        order_id: OrderId,
        /// Units to hold.
        quantity: Quantity,
        /// When.
        at: DateTime<Utc>,
    },
    /// Give an order's held units back; changes nothing unless they are held.
    Release {
        /// The bucket's share.
        share: u32,
        /// The order.
        order_id: OrderId,
        /// When.
        at: DateTime<Utc>,
    },
    /// Sell an order's held units; changes nothing unless they are held.
    Deduct {
        /// The bucket's share.
        share: u32,
        /// The order.
        order_id: OrderId,
        /// When.
        at: DateTime<Utc>,
    },
    /// Close the bucket (the campaign ended): what is available goes back to the SKU.
    Close {
        /// The bucket's share.
        share: u32,
        /// When.
        at: DateTime<Utc>,
    },
}

/// An event of a `CampaignBucket`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum BucketEvent {
    /// The bucket opened with its share.
    BucketOpened(BucketOpened),
    /// Units were held for an order.
    BucketReserved(BucketMovement),
    /// An order's units were given back: to the bucket, or to the SKU when it is closed.
    BucketReleased(BucketReleased),
    /// An order's units were sold.
    BucketDeducted(BucketMovement),
    /// The bucket closed; `returned` units went back to the SKU.
    BucketClosed(BucketClosed),
}

/// The bucket opened with its share (its stream id names the campaign and the bucket).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketOpened {
    /// Units it starts with.
    pub share: u32,
    /// When.
    #[serde(with = "crate::timestamp")]
    pub at: DateTime<Utc>,
}

/// Units of an order moved (held, sold).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketMovement {
    /// The order.
    pub order_id: OrderId,
    /// Units.
    pub quantity: Quantity,
    /// When.
    #[serde(with = "crate::timestamp")]
    pub at: DateTime<Utc>,
}

/// An order's units were given back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketReleased {
    /// The order.
    pub order_id: OrderId,
    /// Units: all the order held.
    pub quantity: Quantity,
    /// `true`: the bucket was closed, the units go back to the SKU.
    pub to_sku: bool,
    /// When.
    #[serde(with = "crate::timestamp")]
    pub at: DateTime<Utc>,
}

/// The bucket closed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketClosed {
    /// Units that went back to the SKU (what was available).
    pub returned: u32,
    /// When.
    #[serde(with = "crate::timestamp")]
    pub at: DateTime<Utc>,
}

impl DomainEvent for BucketEvent {
    fn event_type(&self) -> String {
        match self {
            Self::BucketOpened(_) => "BucketOpened",
            Self::BucketReserved(_) => "BucketReserved",
            Self::BucketReleased(_) => "BucketReleased",
            Self::BucketDeducted(_) => "BucketDeducted",
            Self::BucketClosed(_) => "BucketClosed",
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        "1.0".to_owned()
    }
}

/// Why a bucket refused a reservation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BucketError {
    /// Fewer units available than asked for; nothing was reserved.
    #[error("sold out: {available} available, {requested} requested")]
    SoldOut {
        /// Units available in this bucket.
        available: u32,
        /// Units asked for.
        requested: u32,
    },
    /// The bucket is closed: the campaign ended.
    #[error("the campaign ended")]
    Closed,
    /// The order already reserved another quantity here.
    #[error("this order already reserved {reserved} units, not {requested}")]
    ReservationMismatch {
        /// Units the order holds.
        reserved: u32,
        /// Units asked for now.
        requested: u32,
    },
}

/// The `CampaignBucket` aggregate: a share of a campaign's stock.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CampaignBucket {
    opened: bool,
    closed: bool,
    available: u32,
    reserved: u32,
    sold: u32,
    returned: u32,
    /// What went back to the SKU when the bucket closed.
    returned_at_close: u32,
    reservations: BTreeMap<OrderId, (Quantity, ReservationStatus)>,
    /// The orders whose units were released after the bucket closed: gone to the SKU.
    #[serde(default)]
    released_to_sku: BTreeSet<OrderId>,
}

impl CampaignBucket {
    /// Units that can be reserved; `share` when the bucket never opened.
    pub fn available_of(&self, share: u32) -> u32 {
        if self.opened { self.available } else { share }
    }

    /// Units held for orders awaiting payment.
    pub const fn reserved(&self) -> u32 {
        self.reserved
    }

    /// Units sold.
    pub const fn sold(&self) -> u32 {
        self.sold
    }

    /// Units that went back to the SKU.
    pub const fn returned(&self) -> u32 {
        self.returned
    }

    /// What went back to the SKU when the bucket closed (late releases not counted).
    pub const fn returned_at_close(&self) -> u32 {
        self.returned_at_close
    }

    /// Whether the bucket is closed.
    pub const fn is_closed(&self) -> bool {
        self.closed
    }

    /// The units `order_id` holds here, if any.
    pub fn held(&self, order_id: OrderId) -> Option<Quantity> {
        self.reservations
            .get(&order_id)
            .filter(|(_, status)| *status == ReservationStatus::Reserved)
            .map(|(quantity, _)| *quantity)
    }

    /// The units `order_id` reserved here, whatever became of them since.
    pub fn reserved_by(&self, order_id: OrderId) -> Option<Quantity> {
        self.reservations
            .get(&order_id)
            .map(|(quantity, _)| *quantity)
    }

    /// Whether `order_id`'s units were released after the bucket closed, so went to the SKU.
    pub fn released_to_sku(&self, order_id: OrderId) -> bool {
        self.released_to_sku.contains(&order_id)
    }

    /// How many reservations the state holds.
    pub fn reservations_kept(&self) -> usize {
        self.reservations.len()
    }

    /// Decides what a command changes, without changing anything.
    pub fn decide(&self, command: BucketCommand) -> Result<Vec<BucketEvent>, BucketError> {
        let (share, at) = match &command {
            BucketCommand::Reserve { share, at, .. }
            | BucketCommand::Release { share, at, .. }
            | BucketCommand::Deduct { share, at, .. }
            | BucketCommand::Close { share, at } => (*share, *at),
        };
        let mut events = Vec::new();
        if !self.opened {
            events.push(BucketEvent::BucketOpened(BucketOpened { share, at }));
        }
        let available = self.available_of(share);
        let then = match command {
            BucketCommand::Reserve {
                order_id, quantity, ..
            } => self.reserve(available, order_id, quantity, at)?,
            BucketCommand::Release { order_id, .. } => self
                .held(order_id)
                .map(|quantity| {
                    BucketEvent::BucketReleased(BucketReleased {
                        order_id,
                        quantity,
                        to_sku: self.closed,
                        at,
                    })
                })
                .into_iter()
                .collect(),
            BucketCommand::Deduct { order_id, .. } => self
                .held(order_id)
                .map(|quantity| {
                    BucketEvent::BucketDeducted(BucketMovement {
                        order_id,
                        quantity,
                        at,
                    })
                })
                .into_iter()
                .collect(),
            BucketCommand::Close { .. } if self.closed => vec![],
            BucketCommand::Close { .. } => vec![BucketEvent::BucketClosed(BucketClosed {
                returned: available,
                at,
            })],
        };
        if then.is_empty() {
            // opening alone is no change: a bucket that only opens is as one never touched
            return Ok(vec![]);
        }
        events.extend(then);
        Ok(events)
    }

    fn reserve(
        &self,
        available: u32,
        order_id: OrderId,
        quantity: Quantity,
        at: DateTime<Utc>,
    ) -> Result<Vec<BucketEvent>, BucketError> {
        if let Some((reserved, _)) = self.reservations.get(&order_id) {
            // the same order asking again is a retry; asking for another quantity is not
            return if *reserved == quantity {
                Ok(vec![])
            } else {
                Err(BucketError::ReservationMismatch {
                    reserved: reserved.get(),
                    requested: quantity.get(),
                })
            };
        }
        if self.closed {
            return Err(BucketError::Closed);
        }
        if quantity.get() > available {
            return Err(BucketError::SoldOut {
                available,
                requested: quantity.get(),
            });
        }
        Ok(vec![BucketEvent::BucketReserved(BucketMovement {
            order_id,
            quantity,
            at,
        })])
    }

    fn end(&mut self, order_id: OrderId, status: ReservationStatus) -> u32 {
        match self.reservations.get_mut(&order_id) {
            Some((quantity, held)) if *held == ReservationStatus::Reserved => {
                *held = status;
                self.reserved = self.reserved.saturating_sub(quantity.get());
                quantity.get()
            }
            _ => 0,
        }
    }
}

impl Aggregate for CampaignBucket {
    const TYPE: &'static str = "CampaignBucket";
    type Command = BucketCommand;
    type Event = BucketEvent;
    type Error = BucketError;
    type Services = ();

    async fn handle(
        &mut self,
        command: BucketCommand,
        _services: &(),
        sink: &EventSink<Self>,
    ) -> Result<(), BucketError> {
        for event in self.decide(command)? {
            sink.write(event, self).await;
        }
        Ok(())
    }

    // `decide` only emits events that keep the counts in range; saturating arithmetic keeps a
    // corrupt log from panicking the process.
    fn apply(&mut self, event: BucketEvent) {
        match event {
            BucketEvent::BucketOpened(e) => {
                self.opened = true;
                self.available = e.share;
            }
            BucketEvent::BucketReserved(e) => {
                self.available = self.available.saturating_sub(e.quantity.get());
                self.reserved = self.reserved.saturating_add(e.quantity.get());
                self.reservations
                    .insert(e.order_id, (e.quantity, ReservationStatus::Reserved));
            }
            BucketEvent::BucketReleased(e) => {
                let units = self.end(e.order_id, ReservationStatus::Released);
                if e.to_sku {
                    self.returned = self.returned.saturating_add(units);
                    self.released_to_sku.insert(e.order_id);
                } else {
                    self.available = self.available.saturating_add(units);
                }
            }
            BucketEvent::BucketDeducted(e) => {
                let units = self.end(e.order_id, ReservationStatus::Deducted);
                self.sold = self.sold.saturating_add(units);
            }
            BucketEvent::BucketClosed(e) => {
                self.closed = true;
                self.returned = self.returned.saturating_add(e.returned);
                self.returned_at_close = e.returned;
                self.available = 0;
            }
        }
    }
}
