//! The `SellerCampaigns` aggregate: the campaigns of one seller, in the order they were
//! created (its id is the seller id), so that a seller's list is one stream read. A seller
//! creates few campaigns; the campaigns' own state stays in their streams.

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};

use crate::CampaignId;

/// Add a campaign to its seller's list; adding a listed one changes nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListCampaign {
    /// The campaign.
    pub campaign_id: CampaignId,
    /// When.
    pub at: DateTime<Utc>,
}

/// An event of `SellerCampaigns`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SellerCampaignsEvent {
    /// A campaign joined the seller's list.
    CampaignListed(CampaignListed),
}

/// A campaign joined the seller's list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CampaignListed {
    /// The campaign.
    pub campaign_id: CampaignId,
    /// When.
    #[serde(with = "crate::timestamp")]
    pub at: DateTime<Utc>,
}

impl DomainEvent for SellerCampaignsEvent {
    fn event_type(&self) -> String {
        match self {
            Self::CampaignListed(_) => "CampaignListed",
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        "1.0".to_owned()
    }
}

/// `SellerCampaigns` refuses nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unreachable: a seller's list refuses nothing")]
pub struct SellerCampaignsError;

/// The `SellerCampaigns` aggregate: a seller's campaigns, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SellerCampaigns {
    campaigns: Vec<CampaignId>,
}

impl SellerCampaigns {
    /// The campaigns, oldest first.
    pub fn campaigns(&self) -> &[CampaignId] {
        &self.campaigns
    }

    /// Decides what listing a campaign changes.
    pub fn decide(
        &self,
        command: ListCampaign,
    ) -> Result<Vec<SellerCampaignsEvent>, SellerCampaignsError> {
        if self.campaigns.contains(&command.campaign_id) {
            return Ok(vec![]);
        }
        Ok(vec![SellerCampaignsEvent::CampaignListed(CampaignListed {
            campaign_id: command.campaign_id,
            at: command.at,
        })])
    }
}

impl Aggregate for SellerCampaigns {
    const TYPE: &'static str = "SellerCampaigns";
    type Command = ListCampaign;
    type Event = SellerCampaignsEvent;
    type Error = SellerCampaignsError;
    type Services = ();

    async fn handle(
        &mut self,
        command: ListCampaign,
        _services: &(),
        sink: &EventSink<Self>,
    ) -> Result<(), SellerCampaignsError> {
        for event in self.decide(command)? {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: SellerCampaignsEvent) {
        match event {
            SellerCampaignsEvent::CampaignListed(e) => self.campaigns.push(e.campaign_id),
        }
    }
}
