//! What every request handler shares.

use event_store::EventStore;
use ids::OrderIdGenerator;
use shards::{FollowedMap, Stores};
use std::sync::Arc;

use crate::checkout_token::CheckoutTokens;
use crate::config::Settings;
use crate::leased::Leases;
use crate::payments::Simulator;
use crate::payments::reactions::TradeReaction;
use crate::payments::signature::CallbackKey;
use crate::services::{Clock, Services};

/// Shared application state.
pub struct AppState {
    /// The use cases the routes call.
    pub services: Services,
    /// The time every service and route reads.
    pub clock: Clock,
    /// The event log of the default shard (the only one without shards): health, status.
    pub store: EventStore,
    /// Every stream's event log, by its gene's shard (ADR 42).
    pub stores: Stores,
    /// The shard map this node follows, when shards are configured (kept here so that it is
    /// followed while the server runs).
    pub shard_map: Option<Arc<FollowedMap>>,
    /// The configuration the server started with.
    pub settings: Settings,
    /// Issues order ids (with the buyer's gene) on a leased worker id.
    pub order_ids: OrderIdGenerator,
    /// Issues and verifies checkout tokens.
    pub checkout: CheckoutTokens,
    /// The built-in payment provider simulator (also the payment gateway), when
    /// `payment_provider` is `simulator`.
    pub simulator: Option<std::sync::Arc<Simulator>>,
    /// Opens the provider's trades, on a reactor node (the simulator's pay route opens one
    /// when the buyer pays before the reaction got there).
    pub trades: Option<TradeReaction>,
    /// Verifies the payment provider's signed callbacks.
    pub callback_key: CallbackKey,
    /// The leases this node holds (its share of the log's followers).
    pub leases: Leases,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("store", &self.store)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}
