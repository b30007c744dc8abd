//! The `CampaignBuyer` aggregate: what one buyer holds of one campaign, its own small stream
//! (id [`buyer_stream_id`]). It is the durable record of the per-buyer limit: a placement
//! claims its units here before it reserves any stock, keyed by its order id, so a retry of
//! the same order claims nothing twice, and orders of one buyer take turns on this stream, so
//! however many run at once only `limit` units are ever claimed. A cancelled or rejected
//! order's claim is returned; a returned order is never claimed again (its id is used up).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};

use crate::{BuyerId, CampaignId, OrderId, Quantity};

/// The aggregate id of `buyer`'s record in `campaign`.
pub fn buyer_stream_id(campaign: &CampaignId, buyer: &BuyerId) -> String {
    format!("{campaign}/{buyer}")
}

/// The campaign and the buyer that a buyer record's aggregate id names: the inverse of
/// [`buyer_stream_id`]; `None` for an id it did not make.
pub fn parse_buyer_stream_id(id: &str) -> Option<(CampaignId, BuyerId)> {
    let (campaign, buyer) = id.split_once('/')?;
    Some((
        CampaignId::parse(campaign).ok()?,
        BuyerId::parse(buyer).ok()?,
    ))
}

/// A command to a `CampaignBuyer`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuyerCommand {
    /// Count an order's units against the buyer's limit.
    Claim {
        /// The order (the claim's key).
        order_id: OrderId,
        /// Units.
        quantity: Quantity,
        /// The campaign's limit per buyer.
        limit: Quantity,
        /// When.
        at: DateTime<Utc>,
    },
    /// Give an order's claim back (the order was cancelled or never placed).
    Return {
        /// The order.
        order_id: OrderId,
        /// When.
        at: DateTime<Utc>,
    },
}

/// An event of a `CampaignBuyer`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum BuyerEvent {
    /// An order's units were counted against the limit.
    LimitClaimed(LimitMovement),
    /// An order's units no longer count.
    LimitReturned(LimitMovement),
}

/// An order's units counted, or no longer counted, against the limit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimitMovement {
    /// The order.
    pub order_id: OrderId,
    /// Units.
    pub quantity: Quantity,
    /// When.
    #[serde(with = "crate::timestamp")]
    pub at: DateTime<Utc>,
}

impl DomainEvent for BuyerEvent {
    fn event_type(&self) -> String {
        match self {
            Self::LimitClaimed(_) => "LimitClaimed",
            Self::LimitReturned(_) => "LimitReturned",
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        "1.0".to_owned()
    }
}

/// Why a buyer's claim was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuyerError {
    /// The order would take the buyer past the limit.
    #[error("the limit is {limit} per buyer; {held} held, {requested} more requested")]
    LimitReached {
        /// The campaign's limit.
        limit: u32,
        /// Units the buyer holds.
        held: u32,
        /// Units asked for.
        requested: u32,
    },
    /// The order claimed another quantity before.
    #[error("this order claimed {claimed} units, not {requested}")]
    ClaimMismatch {
        /// Units claimed.
        claimed: u32,
        /// Units asked for now.
        requested: u32,
    },
}

/// The `CampaignBuyer` aggregate: one buyer's claims in one campaign.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CampaignBuyer {
    held: u32,
    /// Every order the buyer claimed with, and whether it still counts.
    claims: BTreeMap<OrderId, (Quantity, bool)>,
}

impl CampaignBuyer {
    /// Units that count against the limit.
    pub const fn held(&self) -> u32 {
        self.held
    }

    /// Whether `order_id` claimed units that still count.
    pub fn counts(&self, order_id: OrderId) -> bool {
        self.claims
            .get(&order_id)
            .is_some_and(|(_, counts)| *counts)
    }

    /// Decides what a command changes, without changing anything.
    pub fn decide(&self, command: BuyerCommand) -> Result<Vec<BuyerEvent>, BuyerError> {
        match command {
            BuyerCommand::Claim {
                order_id,
                quantity,
                limit,
                at,
            } => {
                if let Some((claimed, _)) = self.claims.get(&order_id) {
                    // a retry of the same order (a returned one stays returned)
                    return if *claimed == quantity {
                        Ok(vec![])
                    } else {
                        Err(BuyerError::ClaimMismatch {
                            claimed: claimed.get(),
                            requested: quantity.get(),
                        })
                    };
                }
                if self.held.saturating_add(quantity.get()) > limit.get() {
                    return Err(BuyerError::LimitReached {
                        limit: limit.get(),
                        held: self.held,
                        requested: quantity.get(),
                    });
                }
                Ok(vec![BuyerEvent::LimitClaimed(LimitMovement {
                    order_id,
                    quantity,
                    at,
                })])
            }
            BuyerCommand::Return { order_id, at } => Ok(self
                .claims
                .get(&order_id)
                .filter(|(_, counts)| *counts)
                .map(|(quantity, _)| {
                    BuyerEvent::LimitReturned(LimitMovement {
                        order_id,
                        quantity: *quantity,
                        at,
                    })
                })
                .into_iter()
                .collect()),
        }
    }
}

impl Aggregate for CampaignBuyer {
    const TYPE: &'static str = "CampaignBuyer";
    type Command = BuyerCommand;
    type Event = BuyerEvent;
    type Error = BuyerError;
    type Services = ();

    async fn handle(
        &mut self,
        command: BuyerCommand,
        _services: &(),
        sink: &EventSink<Self>,
    ) -> Result<(), BuyerError> {
        for event in self.decide(command)? {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: BuyerEvent) {
        match event {
            BuyerEvent::LimitClaimed(e) => {
                self.held = self.held.saturating_add(e.quantity.get());
                self.claims.insert(e.order_id, (e.quantity, true));
            }
            BuyerEvent::LimitReturned(e) => {
                if let Some((quantity, counts)) = self.claims.get_mut(&e.order_id) {
                    if *counts {
                        *counts = false;
                        self.held = self.held.saturating_sub(quantity.get());
                    }
                }
            }
        }
    }
}
