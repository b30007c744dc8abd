//! Flash sales: the `Campaign` aggregate, the stock it sells from ([`bucket`]) and the record
//! of what each buyer took ([`buyer`]); a seller's list of campaigns is [`seller`]'s.
//!
//! A campaign sells `stock` units of one SKU at its own price between `starts_at` and
//! `ends_at`, at most `limit_per_buyer` to each buyer. Its stock is taken from the SKU when it
//! is created and split over [`Campaign::bucket_count`] bucket streams (ADR 38): every buyer of
//! a campaign reserves on the same SKU at once, and one stream takes one write at a time, so
//! the buckets let that many reservations be written in parallel. The campaign stream itself
//! is only written twice (created, ended): a placement reads it, never writes it.

pub mod bucket;
pub mod buyer;
pub mod seller;

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};

use crate::{CampaignId, Money, Quantity, SellerId, SkuId};

/// Most bucket streams a campaign's stock is split over.
pub const CAMPAIGN_BUCKETS_MAX: u32 = 16;

/// A command to the `Campaign` aggregate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CampaignCommand {
    /// Start a campaign (its stock was taken from the SKU first).
    CreateCampaign(CreateCampaign),
    /// End it now, or record that it ended at its end time when that has passed; ending an
    /// ended campaign changes nothing.
    EndCampaign(EndCampaign),
}

/// Start a campaign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateCampaign {
    /// The campaign (also the aggregate id).
    pub campaign_id: CampaignId,
    /// The SKU it sells.
    pub sku: SkuId,
    /// Who sells it (the SKU's seller).
    pub seller: SellerId,
    /// When buyers may start ordering.
    pub starts_at: DateTime<Utc>,
    /// When the campaign ends by itself; after `starts_at`.
    pub ends_at: DateTime<Utc>,
    /// The unit price during the campaign.
    pub price: Money,
    /// Units taken from the SKU for the campaign; at least one.
    pub stock: u32,
    /// Units one buyer may hold at most.
    pub limit_per_buyer: Quantity,
    /// When.
    pub at: DateTime<Utc>,
}

/// End a campaign now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndCampaign {
    /// When.
    pub at: DateTime<Utc>,
}

/// An event of the `Campaign` aggregate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CampaignEvent {
    /// A campaign was created.
    CampaignCreated(CampaignCreated),
    /// A campaign was ended: by its seller before its end time, or at its end time.
    CampaignEnded(CampaignEnded),
}

/// A campaign was created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CampaignCreated {
    /// The campaign.
    pub campaign_id: CampaignId,
    /// The SKU it sells.
    pub sku: SkuId,
    /// Who sells it.
    pub seller: SellerId,
    /// When buyers may start ordering.
    #[serde(with = "crate::timestamp")]
    pub starts_at: DateTime<Utc>,
    /// When the campaign ends by itself.
    #[serde(with = "crate::timestamp")]
    pub ends_at: DateTime<Utc>,
    /// The unit price during the campaign.
    pub price: Money,
    /// Units taken from the SKU.
    pub stock: u32,
    /// Units one buyer may hold at most.
    pub limit_per_buyer: Quantity,
    /// How many bucket streams the stock is split over.
    pub buckets: u32,
    /// When.
    #[serde(with = "crate::timestamp")]
    pub at: DateTime<Utc>,
}

/// A campaign was ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CampaignEnded {
    /// When.
    #[serde(with = "crate::timestamp")]
    pub at: DateTime<Utc>,
}

impl DomainEvent for CampaignEvent {
    fn event_type(&self) -> String {
        match self {
            Self::CampaignCreated(_) => "CampaignCreated",
            Self::CampaignEnded(_) => "CampaignEnded",
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        "1.0".to_owned()
    }
}

/// Why the `Campaign` aggregate refused a command, or a campaign refuses a buyer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CampaignError {
    /// `CreateCampaign` for a campaign that exists.
    #[error("the campaign already exists")]
    AlreadyExists,
    /// No such campaign.
    #[error("campaign not found")]
    NotFound,
    /// `ends_at` is not after `starts_at`.
    #[error("the campaign must end after it starts")]
    EmptyWindow,
    /// A campaign of zero units.
    #[error("a campaign needs at least one unit of stock")]
    NoStock,
    /// An order before the campaign's start.
    #[error("the campaign starts at {starts_at}")]
    NotStarted {
        /// When it starts.
        starts_at: DateTime<Utc>,
    },
    /// An order after the campaign's end.
    #[error("the campaign ended at {ended_at}")]
    Ended {
        /// When it ended.
        ended_at: DateTime<Utc>,
    },
}

/// Where a campaign stands at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CampaignStatus {
    /// Before its start.
    Scheduled,
    /// Buyers may order.
    Running,
    /// After its end time, or ended by the seller.
    Ended,
}

/// The `Campaign` aggregate: what a flash sale sells, when, at what price, how much to whom.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Campaign {
    created: Option<CampaignCreated>,
    ended_at: Option<DateTime<Utc>>,
}

impl Campaign {
    /// What the campaign was created with, `None` when it does not exist.
    pub fn details(&self) -> Option<&CampaignCreated> {
        self.created.as_ref()
    }

    /// When it was recorded as ended (by its seller, or at its end time), if it was.
    pub fn ended_early_at(&self) -> Option<DateTime<Utc>> {
        self.ended_at
    }

    /// How many bucket streams a campaign of `stock` units is split over: one per unit up to
    /// [`CAMPAIGN_BUCKETS_MAX`].
    pub fn bucket_count(stock: u32) -> u32 {
        stock.clamp(1, CAMPAIGN_BUCKETS_MAX)
    }

    /// The units bucket `bucket` starts with: the stock split as evenly as it goes, the first
    /// buckets taking one unit more.
    pub fn bucket_stock(&self, bucket: u32) -> u32 {
        let Some(created) = &self.created else {
            return 0;
        };
        if bucket >= created.buckets {
            return 0;
        }
        created.stock / created.buckets + u32::from(bucket < created.stock % created.buckets)
    }

    /// When it ends (or ended): the seller's end, else its end time.
    pub fn ends_at(&self) -> Option<DateTime<Utc>> {
        let created = self.created.as_ref()?;
        Some(
            self.ended_at
                .map_or(created.ends_at, |ended| ended.min(created.ends_at)),
        )
    }

    /// Its status at `now`, `None` when it does not exist.
    pub fn status(&self, now: DateTime<Utc>) -> Option<CampaignStatus> {
        let created = self.created.as_ref()?;
        let ends_at = self.ends_at()?;
        Some(if now >= ends_at {
            CampaignStatus::Ended
        } else if now < created.starts_at {
            CampaignStatus::Scheduled
        } else {
            CampaignStatus::Running
        })
    }

    /// Whether a buyer may order at `now`: the campaign exists and is running.
    pub fn check_running(&self, now: DateTime<Utc>) -> Result<&CampaignCreated, CampaignError> {
        let created = self.created.as_ref().ok_or(CampaignError::NotFound)?;
        match self.status(now) {
            Some(CampaignStatus::Running) => Ok(created),
            Some(CampaignStatus::Scheduled) => Err(CampaignError::NotStarted {
                starts_at: created.starts_at,
            }),
            _ => Err(CampaignError::Ended {
                ended_at: self.ends_at().unwrap_or(created.ends_at),
            }),
        }
    }

    /// Decides what a command changes, without changing anything.
    pub fn decide(&self, command: CampaignCommand) -> Result<Vec<CampaignEvent>, CampaignError> {
        match command {
            CampaignCommand::CreateCampaign(command) => self.create(command),
            CampaignCommand::EndCampaign(command) => {
                let created = self.created.as_ref().ok_or(CampaignError::NotFound)?;
                if self.ended_at.is_some() {
                    return Ok(vec![]);
                }
                // ended after its end time, it ended at its end time
                Ok(vec![CampaignEvent::CampaignEnded(CampaignEnded {
                    at: command.at.min(created.ends_at),
                })])
            }
        }
    }

    fn create(&self, command: CreateCampaign) -> Result<Vec<CampaignEvent>, CampaignError> {
        if self.created.is_some() {
            return Err(CampaignError::AlreadyExists);
        }
        if command.ends_at <= command.starts_at {
            return Err(CampaignError::EmptyWindow);
        }
        if command.stock == 0 {
            return Err(CampaignError::NoStock);
        }
        Ok(vec![CampaignEvent::CampaignCreated(CampaignCreated {
            campaign_id: command.campaign_id,
            sku: command.sku,
            seller: command.seller,
            starts_at: command.starts_at,
            ends_at: command.ends_at,
            price: command.price,
            stock: command.stock,
            limit_per_buyer: command.limit_per_buyer,
            buckets: Self::bucket_count(command.stock),
            at: command.at,
        })])
    }
}

impl Aggregate for Campaign {
    const TYPE: &'static str = "Campaign";
    type Command = CampaignCommand;
    type Event = CampaignEvent;
    type Error = CampaignError;
    type Services = ();

    async fn handle(
        &mut self,
        command: CampaignCommand,
        _services: &(),
        sink: &EventSink<Self>,
    ) -> Result<(), CampaignError> {
        for event in self.decide(command)? {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: CampaignEvent) {
        match event {
            CampaignEvent::CampaignCreated(e) => self.created = Some(e),
            CampaignEvent::CampaignEnded(e) => self.ended_at = Some(e.at),
        }
    }
}
