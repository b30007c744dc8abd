//! The work beside the HTTP server, by the node's roles ([`crate::roles`]): the reactions
//! and, with NATS, the cart consumer (reactor), the relay to JetStream (relay), the payment
//! deadlines' timer and the campaigns' ends (timer), the projections and the archiver
//! (projector). Each runs under its lease ([`crate::leased`]), so that with several nodes of
//! a role one of them does it; with shards (ADR 42), each follower of the log runs once per
//! shard, under the lease of that shard's database, but the relay: one node publishes every
//! shard's log (ADR 43).

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream;
use event_store::EventStore;
use event_store::follower::FollowerMetrics;
use ids::SegmentAllocator;
use projections::sellers::{SELLERS_NAME, SellerPlaces, SellerRunner};
use projections::{ArchiveSchedule, Archiver, Projection, ProjectionMetrics, Runner};
use relay::{ConsumerMetrics, Relay, RelayMetrics};
use shards::Stores;
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
use crate::seller_places::RouterPlaces;
use crate::services::Clock;
use crate::startup::StartupError;

/// What the workers of a node share.
pub(crate) struct Workers<'a> {
    /// Every stream's store: the commands of reactions and timers go through it, to the
    /// shard of the stream they name.
    pub(crate) stores: &'a Stores,
    /// Each shard's log with the leases of its database, the default shard's first: every
    /// follower of a log runs once per shard, under that shard's lease.
    pub(crate) shards: &'a [(EventStore, Leases)],
    pub(crate) settings: &'a Settings,
    pub(crate) metrics: &'a Metrics,
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

/// One shard's log and the leases of its database.
#[derive(Clone, Copy)]
struct Shard<'a> {
    store: &'a EventStore,
    leases: &'a Leases,
}

impl Shard<'_> {
    /// The shard's name: the `shard` label of its followers' and leases' metrics.
    fn name(&self) -> &str {
        self.leases.shard()
    }
}

impl Workers<'_> {
    /// Starts the work of every role of the node but the API's, on every shard's log.
    pub(crate) fn spawn(&self) -> Result<Spawned, StartupError> {
        let roles = &self.settings.roles;
        let wake = Arc::new(timer::DeadlineWake::default());
        let shards: Vec<Shard<'_>> = self
            .shards
            .iter()
            .map(|(store, leases)| Shard { store, leases })
            .collect();
        let mut workers = Vec::new();
        let mut trades = None;
        if roles.has(Role::Reactor) {
            let (reactions, trade_reaction) = self.reactions(&shards, &wake)?;
            workers.extend(reactions);
            trades = Some(trade_reaction);
        }
        if roles.has(Role::Relay) {
            workers.extend(self.relay(&shards)?);
        }
        if roles.has(Role::Timer) {
            for &shard in &shards {
                workers.push(self.timer(shard, Arc::clone(&wake)));
            }
        }
        if roles.has(Role::Projector) {
            workers.extend(self.projections(&shards)?);
            for &shard in &shards {
                workers.push(self.archiver(shard));
            }
        }
        Ok(Spawned {
            handles: workers,
            trades,
        })
    }

    /// `reaction` following `shard`'s log under the lease `reaction:<name>` there, its metrics
    /// labelled with the shard.
    fn reaction<R: Reaction + Clone>(&self, shard: Shard<'_>, reaction: R) -> JoinHandle<()> {
        let store = shard.store.clone();
        let metrics: FollowerMetrics = self.metrics.reactions.on_shard(shard.name());
        shard.leases.spawn(
            format!("reaction:{}", reaction.name()),
            self.shutdown,
            move |token| runner::run(store.clone(), reaction.clone(), metrics.clone(), token),
        )
    }

    /// The reactions to each shard's log and each shard's placement sweeper, and the reaction
    /// opening trades.
    fn reactions(
        &self,
        shards: &[Shard<'_>],
        wake: &Arc<timer::DeadlineWake>,
    ) -> Result<(Vec<JoinHandle<()>>, TradeReaction), StartupError> {
        let stores = self.stores;
        let deadlines = DeadlineReaction::new(
            stores.db().clone(),
            SegmentAllocator::new(stores.default_store(), "trade")?,
            Arc::clone(wake),
        );
        let order_reactions = OrderReactions::new(stores.clone());
        let trades = TradeReaction::new(stores.clone(), self.gateway.clone(), deadlines.clone());
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
                CartClearing::new(stores.clone()),
                ConsumerMetrics::register(self.metrics.registry())?,
                self.shutdown.clone(),
            )));
        }
        let order_reactions = if self.nats.is_some() {
            order_reactions.without_cart_clearing()
        } else {
            order_reactions
        };
        let placement = PlacementReactions::new(stores.clone());
        let refunds = RefundReaction::new(
            stores.clone(),
            self.gateway.clone(),
            self.refund_numbers.clone(),
        );
        for &shard in shards {
            let sweeper = PlacementSweeper::new(
                stores.clone(),
                shard.store.db(),
                Duration::from_secs(self.settings.abandoned_placement_secs),
            );
            workers.extend([
                self.reaction(shard, order_reactions.clone()),
                self.reaction(shard, placement.clone()),
                self.reaction(shard, trades.clone()),
                self.reaction(shard, refunds.clone()),
                self.reaction(shard, deadlines.clone()),
                self.reaction(shard, CampaignEndsReaction::new(shard.store)),
                shard
                    .leases
                    .spawn("placement-sweeper", self.shutdown, move |token| {
                        placement_sweeper::run(
                            sweeper.clone(),
                            Duration::from_secs(PLACEMENT_SWEEP_INTERVAL_SECS),
                            token,
                        )
                    }),
            ]);
        }
        Ok((workers, trades))
    }

    /// The relay of every shard's log to JetStream, when `nats_url` is set: one publisher for
    /// the stream (ADR 43), under the lease `relay` of the default shard's database, running
    /// one follower per shard, each with its checkpoint in its shard and its lag labelled with
    /// the shard.
    fn relay(&self, shards: &[Shard<'_>]) -> Result<Vec<JoinHandle<()>>, StartupError> {
        let Some(js) = &self.nats else {
            tracing::info!("relay role without nats_url: no event leaves the process");
            return Ok(Vec::new());
        };
        let Some(first) = shards.first() else {
            return Ok(Vec::new());
        };
        let registry = self.metrics.registry();
        let metrics = RelayMetrics::register(registry)?;
        let lag = FollowerMetrics::register("relay", registry)?;
        let (js, settings) = (js.clone(), self.settings.relay_settings());
        let followed: Vec<(EventStore, FollowerMetrics)> = shards
            .iter()
            .map(|shard| (shard.store.clone(), lag.on_shard(shard.name())))
            .collect();
        Ok(vec![first.leases.spawn(
            relay::RELAY_NAME,
            self.shutdown,
            move |token| {
                // a new publisher each time the lease is taken: it reads the stream's last
                // sequence afresh, whoever published last
                let relay = Relay::new(js.clone(), settings.clone(), metrics.clone());
                let followers: Vec<_> = followed
                    .iter()
                    .map(|(store, lag)| {
                        relay::follower(store.clone(), relay.clone(), lag.clone())
                            .run(token.clone())
                    })
                    .collect();
                async move {
                    futures::future::join_all(followers).await;
                }
            },
        )])
    }

    /// `shard`'s payment deadlines' timer and its sweeper, and the campaigns' ends
    /// ([`campaign_ends`]) it holds, under the lease `timer` of its database. A deadline
    /// recorded on this node wakes the timers at once; one recorded elsewhere is seen within
    /// a timer's idle wait.
    fn timer(&self, shard: Shard<'_>, wake: Arc<timer::DeadlineWake>) -> JoinHandle<()> {
        let firer = DeadlineFirer::new(
            self.stores.clone(),
            shard.store.db(),
            self.gateway.clone(),
            self.clock.ids_clock(),
            Some(Metrics::clone(self.metrics)),
        );
        let sweep_interval = Duration::from_secs(self.settings.payment_sweep_interval_secs.max(1));
        let ender = CampaignEnder::new(self.stores.clone(), shard.store, self.clock.clone());
        shard.leases.spawn("timer", self.shutdown, move |token| {
            let timer = timer::run_timer(firer.clone(), Arc::clone(&wake), token.clone());
            let sweeper = timer::run_sweeper(firer.clone(), sweep_interval, token.clone());
            let campaign_ends = campaign_ends::run(ender.clone(), token);
            async move {
                tokio::join!(timer, sweeper, campaign_ends);
            }
        })
    }

    /// One runner per projection and shard, under the lease `projection:<name>` of the
    /// shard's database, exporting its lag labelled with the shard; with shards, each shard's
    /// `sellers` follower too (ADR 45).
    fn projections(&self, shards: &[Shard<'_>]) -> Result<Vec<JoinHandle<()>>, StartupError> {
        let metrics = ProjectionMetrics::register(self.metrics.registry())?;
        let mut workers = Vec::new();
        for shard in shards {
            let metrics = metrics.on_shard(shard.name());
            for projection in Projection::ALL {
                let store = shard.store.clone();
                let metrics = metrics.clone();
                workers.push(shard.leases.spawn(
                    format!("projection:{}", projection.name()),
                    self.shutdown,
                    move |token| Runner::new(store.clone(), projection, metrics.clone()).run(token),
                ));
            }
        }
        if let Some(places) = RouterPlaces::of(self.stores) {
            let places: Arc<dyn SellerPlaces> = places;
            for shard in shards {
                let (store, places) = (shard.store.clone(), Arc::clone(&places));
                let metrics = metrics.on_shard(shard.name());
                workers.push(shard.leases.spawn(
                    format!("projection:{SELLERS_NAME}"),
                    self.shutdown,
                    move |token| {
                        SellerRunner::new(store.clone(), Arc::clone(&places), metrics.clone())
                            .run(token)
                    },
                ));
            }
        }
        Ok(workers)
    }

    /// `shard`'s read side's off-peak archiver (`archive_window`; `orders archive` runs it on
    /// demand), under the lease `archiver` of its database.
    fn archiver(&self, shard: Shard<'_>) -> JoinHandle<()> {
        let settings = self.settings;
        let mut archiver = Archiver::new(
            shard.store,
            chrono::TimeDelta::days(i64::from(settings.archive_after_days)),
            settings.archive_batch_size,
        );
        if self.stores.router().is_some() {
            archiver = archiver.with_seller_views(self.stores.db().clone());
        }
        let schedule = ArchiveSchedule {
            window: settings.archive_window,
            interval: Duration::from_secs(settings.archive_interval_secs.max(1)),
        };
        shard.leases.spawn("archiver", self.shutdown, move |token| {
            archiver.clone().run_scheduled(schedule, token)
        })
    }
}
