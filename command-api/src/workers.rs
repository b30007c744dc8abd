//! The work beside the HTTP server, by the node's roles ([`crate::roles`]): the reactions
//! and, with NATS, the cart consumer (reactor), the relay to JetStream (relay), the payment
//! deadlines' timer and the campaigns' ends (timer), the projections and the archiver
//! (projector). Each runs under its lease ([`crate::leased`]), so that with several nodes of
//! a role one of them does it.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream;
use event_store::EventStore;
use event_store::follower::FollowerMetrics;
use ids::SegmentAllocator;
use projections::{ArchiveSchedule, Archiver, Projection, ProjectionMetrics, Runner};
use relay::{ConsumerMetrics, Relay, RelayMetrics};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::campaign_ends::{self, CampaignEnder, CampaignEndsReaction};
use crate::config::Settings;
use crate::leased::Leases;
use crate::metrics::Metrics;
use crate::payments::reactions::{DeadlineReaction, RefundReaction, TradeReaction};
use crate::payments::{DeadlineFirer, PaymentGateway, timer};
use crate::reactions::OrderReactions;
use crate::reactions::cart_consumer::CartClearing;
use crate::reactions::placement::PlacementReactions;
use crate::reactions::placement_sweeper::{self, PLACEMENT_SWEEP_INTERVAL_SECS, PlacementSweeper};
use crate::reactions::runner::{self, Reaction};
use crate::roles::Role;
use crate::services::Clock;
use crate::startup::StartupError;

/// What the workers of a node share.
pub(crate) struct Workers<'a> {
    pub(crate) store: &'a EventStore,
    pub(crate) settings: &'a Settings,
    pub(crate) metrics: &'a Metrics,
    pub(crate) leases: &'a Leases,
    pub(crate) gateway: Arc<dyn PaymentGateway>,
    pub(crate) refund_numbers: SegmentAllocator,
    pub(crate) clock: &'a Clock,
    pub(crate) shutdown: &'a CancellationToken,
    /// JetStream, when `nats_url` is set: the relay publishes to it and the cart consumer
    /// reads from it.
    pub(crate) nats: Option<jetstream::Context>,
}

/// The work a node started, and what of it the API shares.
pub(crate) struct Spawned {
    /// The running workers.
    pub(crate) handles: Vec<JoinHandle<()>>,
    /// The reaction opening the provider's trades, on a reactor node: the simulator's pay
    /// route opens a trade through it when the buyer pays before it got there.
    pub(crate) trades: Option<TradeReaction>,
}

impl Workers<'_> {
    /// Starts the work of every role of the node but the API's.
    pub(crate) fn spawn(&self) -> Result<Spawned, StartupError> {
        let roles = &self.settings.roles;
        let wake = Arc::new(timer::DeadlineWake::default());
        let mut workers = Vec::new();
        let mut trades = None;
        if roles.has(Role::Reactor) {
            let (reactions, trade_reaction) = self.reactions(&wake)?;
            workers.extend(reactions);
            trades = Some(trade_reaction);
        }
        if roles.has(Role::Relay) {
            workers.extend(self.relay()?);
        }
        if roles.has(Role::Timer) {
            workers.push(self.timer(wake));
        }
        if roles.has(Role::Projector) {
            workers.extend(self.projections()?);
            workers.push(self.archiver());
        }
        Ok(Spawned {
            handles: workers,
            trades,
        })
    }

    /// `reaction` following the log under the lease `reaction:<name>`.
    fn reaction<R: Reaction + Clone>(&self, reaction: R) -> JoinHandle<()> {
        let store = self.store.clone();
        let metrics: FollowerMetrics = self.metrics.reactions.clone();
        self.leases.spawn(
            format!("reaction:{}", reaction.name()),
            self.shutdown,
            move |token| runner::run(store.clone(), reaction.clone(), metrics.clone(), token),
        )
    }

    /// The reactions to the log and the placement sweeper, and the reaction opening trades.
    fn reactions(
        &self,
        wake: &Arc<timer::DeadlineWake>,
    ) -> Result<(Vec<JoinHandle<()>>, TradeReaction), StartupError> {
        let store = self.store;
        let deadlines = DeadlineReaction::new(
            store.clone(),
            SegmentAllocator::new(store, "trade")?,
            Arc::clone(wake),
        );
        let sweeper = PlacementSweeper::new(
            store.clone(),
            Duration::from_secs(self.settings.abandoned_placement_secs),
        );
        let order_reactions = OrderReactions::new(store.clone());
        let trades = TradeReaction::new(store.clone(), self.gateway.clone(), deadlines.clone());
        let mut workers = Vec::new();
        if let Some(js) = &self.nats {
            let settings = CartClearing::consumer_settings(
                &self.settings.relay_settings(),
                self.settings.cart_consumer_max_deliveries,
                Duration::from_secs(self.settings.cart_consumer_ack_wait_secs),
            );
            // JetStream shares a durable consumer's messages among its pullers: no lease
            workers.push(tokio::spawn(relay::run_consumer(
                js.clone(),
                settings,
                CartClearing::new(store.clone()),
                ConsumerMetrics::register(self.metrics.registry())?,
                self.shutdown.clone(),
            )));
        }
        let order_reactions = if self.nats.is_some() {
            order_reactions.without_cart_clearing()
        } else {
            order_reactions
        };
        workers.extend([
            self.reaction(order_reactions),
            self.reaction(PlacementReactions::new(store.clone())),
            self.reaction(trades.clone()),
            self.reaction(RefundReaction::new(
                store.clone(),
                self.gateway.clone(),
                self.refund_numbers.clone(),
            )),
            self.reaction(deadlines),
            self.reaction(CampaignEndsReaction::new(store)),
            self.leases
                .spawn("placement-sweeper", self.shutdown, move |token| {
                    placement_sweeper::run(
                        sweeper.clone(),
                        Duration::from_secs(PLACEMENT_SWEEP_INTERVAL_SECS),
                        token,
                    )
                }),
        ]);
        Ok((workers, trades))
    }

    /// The relay of the log to JetStream, under the lease `relay`, when `nats_url` is set.
    fn relay(&self) -> Result<Option<JoinHandle<()>>, StartupError> {
        let Some(js) = &self.nats else {
            tracing::info!("relay role without nats_url: no event leaves the process");
            return Ok(None);
        };
        let registry = self.metrics.registry();
        let metrics = RelayMetrics::register(registry)?;
        let lag = FollowerMetrics::register("relay", registry)?;
        let (store, js, settings) = (
            self.store.clone(),
            js.clone(),
            self.settings.relay_settings(),
        );
        Ok(Some(self.leases.spawn(
            relay::RELAY_NAME,
            self.shutdown,
            move |token| {
                let relay = Relay::new(js.clone(), settings.clone(), metrics.clone());
                relay::follower(store.clone(), relay, lag.clone()).run(token)
            },
        )))
    }

    /// The payment deadlines' timer and its sweeper, and the campaigns' ends
    /// ([`campaign_ends`]), under the lease `timer`. A deadline
    /// recorded on this node wakes the timer at once; one recorded elsewhere is seen within
    /// the timer's idle wait.
    fn timer(&self, wake: Arc<timer::DeadlineWake>) -> JoinHandle<()> {
        let firer = DeadlineFirer::new(
            self.store.clone(),
            self.gateway.clone(),
            self.clock.ids_clock(),
            Some(Metrics::clone(self.metrics)),
        );
        let sweep_interval = Duration::from_secs(self.settings.payment_sweep_interval_secs.max(1));
        let ender = CampaignEnder::new(self.store.clone(), self.clock.clone());
        self.leases.spawn("timer", self.shutdown, move |token| {
            let timer = timer::run_timer(firer.clone(), Arc::clone(&wake), token.clone());
            let sweeper = timer::run_sweeper(firer.clone(), sweep_interval, token.clone());
            let campaign_ends = campaign_ends::run(ender.clone(), token);
            async move {
                tokio::join!(timer, sweeper, campaign_ends);
            }
        })
    }

    /// One runner per projection, under the lease `projection:<name>`, exporting its lag.
    fn projections(&self) -> Result<Vec<JoinHandle<()>>, StartupError> {
        let metrics = ProjectionMetrics::register(self.metrics.registry())?;
        Ok(Projection::ALL
            .into_iter()
            .map(|projection| {
                let store = self.store.clone();
                let metrics = metrics.clone();
                self.leases.spawn(
                    format!("projection:{}", projection.name()),
                    self.shutdown,
                    move |token| Runner::new(store.clone(), projection, metrics.clone()).run(token),
                )
            })
            .collect())
    }

    /// The read side's off-peak archiver (`archive_window`; `orders archive` runs it on
    /// demand), under the lease `archiver`.
    fn archiver(&self) -> JoinHandle<()> {
        let settings = self.settings;
        let archiver = Archiver::new(
            self.store,
            chrono::TimeDelta::days(i64::from(settings.archive_after_days)),
            settings.archive_batch_size,
        );
        let schedule = ArchiveSchedule {
            window: settings.archive_window,
            interval: Duration::from_secs(settings.archive_interval_secs.max(1)),
        };
        self.leases.spawn("archiver", self.shutdown, move |token| {
            archiver.clone().run_scheduled(schedule, token)
        })
    }
}
