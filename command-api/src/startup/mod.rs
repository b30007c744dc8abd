//! Building and running the application: the store, the HTTP server and the workers beside it.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

pub use actix_web::dev::ServerHandle;
use actix_web::dev::{Server, Service, ServiceResponse};
use actix_web::http::ConnectionType;
use actix_web::middleware::ErrorHandlers;
use actix_web::{App, HttpServer, web};
use async_nats::jetstream;
use futures::FutureExt;

use ids::{OrderIdGenerator, SegmentAllocator};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use projections::ReadModels;
use shards::{FollowedMap, MapStore, ShardName, ShardRouter, Stores};

use crate::access::{self, Edge};
use crate::admission::{Admission, AdmissionLimits};
use crate::auth::TokenKeys;
use crate::checkout_token::CheckoutTokens;
use crate::config::{
    DEV_JWT_SECRET, DEV_PAYMENT_CALLBACK_SECRET, PaymentProvider, Settings, redact_url,
};
use crate::known_ids::{self, KnownIds, KnownIdsError};
use crate::leased::Leases;
use crate::limits::{self, JSON_BODY_SIZE_MAX_BYTES};
use crate::metrics::Metrics;
use crate::payments::signature::CallbackKey;
use crate::payments::simulator::CallbackTarget;
use crate::payments::{CallbackFaults, NoProvider, PaymentGateway, Simulator, simulator_route};
use crate::problem::Problem;
use crate::roles::Role;
use crate::routes;
use crate::services::{Clock, Services};
use crate::shutdown::{Deadlines, Drain, StopHandle, stop_after_halt, stop_gracefully};
use crate::state::AppState;
use crate::workers::Workers;

mod error;
mod store;

pub use error::StartupError;
pub use store::{
    migrate_shard, migrate_store, open_migrated_shard, open_migrated_store, open_store,
};

/// JetStream at `nats_url`, when set, with the streams this node's roles use created or
/// updated: an unreachable server is an error at start; afterwards the client reconnects
/// for ever and nothing of the command side waits for it.
async fn jetstream(
    settings: &Settings,
    client_name: &str,
) -> Result<Option<jetstream::Context>, StartupError> {
    let Some(url) = &settings.nats_url else {
        return Ok(None);
    };
    let js = jetstream::new(relay::connect(url, client_name).await?);
    let relay_settings = settings.relay_settings();
    if settings.roles.has(Role::Relay) || settings.roles.has(Role::Reactor) {
        relay::ensure_stream(&js, &relay_settings).await?;
    }
    if settings.roles.has(Role::Reactor) {
        relay::ensure_dead_letter_stream(&js, &relay_settings).await?;
    }
    tracing::info!(url = %url, stream = %relay_settings.stream, "NATS JetStream ready");
    Ok(Some(js))
}

/// The built-in payment provider, sending its callbacks to this server's notify route.
fn payment_simulator(settings: &Settings, port: u16, clock: &Clock) -> Simulator {
    let ip = settings.http_addr.ip();
    let host = if ip.is_unspecified() {
        "127.0.0.1".to_owned()
    } else if ip.is_ipv6() {
        format!("[{ip}]")
    } else {
        ip.to_string()
    };
    let faults = CallbackFaults {
        drop_permille: settings.simulator_callback_drop_permille,
        duplicate_permille: settings.simulator_callback_duplicate_permille,
        delay_permille: settings.simulator_callback_delay_permille,
        delay_ms: settings.simulator_callback_delay_ms,
    };
    Simulator::new(
        Some(CallbackTarget {
            url: format!("http://{host}:{port}/v1/payments/notify"),
            callback_secret: settings.payment_callback_secret.clone(),
        }),
        faults,
        settings.simulator_refund_settle_ms,
        clock.ids_clock(),
    )
}

/// The stores of every stream: the one store, or with shards configured (PostgreSQL only;
/// the settings refuse shards on SQLite) the router over every shard's store (`decorate`d as
/// the default's is, each migrated), following the shard map on the default database. A
/// shard the map names that is not configured stops the start.
async fn connect_shards(
    settings: &Settings,
    default: &event_store::EventStore,
    decorate: impl Fn(event_store::EventStore) -> event_store::EventStore,
) -> Result<(Stores, Option<Arc<FollowedMap>>), StartupError> {
    if settings.shards.is_empty() {
        return Ok((Stores::one(default.clone()), None));
    }
    let default_url = redact_url(&settings.database_url);
    let Some(pool) = default.postgres_pool() else {
        return Err(StartupError::Setting {
            name: "shards",
            expected: "empty on the embedded SQLite store (one shard)".to_owned(),
            value: format!("{:?}", settings.shards),
        });
    };
    let map = FollowedMap::start(MapStore::new(pool.clone()), shards::POLL_INTERVAL)
        .await
        .map_err(|source| StartupError::ShardMap {
            url: default_url.clone(),
            source,
        })?;
    let connected = ShardRouter::connect(
        map.subscribe(),
        default.clone(),
        settings.shards.iter(),
        settings.postgres_max_connections,
    )
    .await
    .map_err(|err| StartupError::Store {
        url: settings
            .shards
            .url(&err.shard)
            .map_or_else(|| err.shard.to_string(), redact_url),
        source: err.source,
    })?;
    let mut stores = BTreeMap::new();
    for (shard, store) in connected.stores() {
        if *shard == ShardName::default_shard() {
            stores.insert(shard.clone(), default.clone());
            continue;
        }
        crate::migrations::run_shard(store)
            .await
            .map_err(|source| StartupError::Store {
                url: settings
                    .shards
                    .url(shard)
                    .map_or_else(|| shard.to_string(), redact_url),
                source,
            })?;
        stores.insert(shard.clone(), decorate(store.clone()));
    }
    let router = ShardRouter::new(map.subscribe(), stores);
    let unconfigured = router.unconfigured();
    if !unconfigured.is_empty() {
        return Err(StartupError::Setting {
            name: "shards",
            expected: "a URL for every shard the shard map names".to_owned(),
            value: format!(
                "map version {} without {}",
                router.map().version(),
                unconfigured
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        });
    }
    tracing::info!(
        map_version = router.map().version(),
        shards = router.stores().count(),
        "shard map in force; every stream routes by its gene"
    );
    Ok((
        Stores::sharded(default.clone(), router),
        Some(Arc::new(map)),
    ))
}

fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "orders".to_owned())
}

/// The running application: its HTTP server, bound to a port, and the workers beside it.
pub struct Application {
    port: u16,
    server: Server,
    state: web::Data<AppState>,
    shutdown: CancellationToken,
    workers: Vec<JoinHandle<()>>,
    drain: Arc<Drain>,
    stop: StopHandle,
    grace: Duration,
}

impl Application {
    /// Opens the store, binds the listener (port 0 picks a free port) and prepares the server.
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        Self::build_with_clock(settings, Clock::system()).await
    }

    /// [`build`](Self::build), with every service, the payment deadlines and the simulator
    /// reading time from `clock` (tests move a manual one instead of sleeping).
    pub async fn build_with_clock(settings: Settings, clock: Clock) -> Result<Self, StartupError> {
        settings.check_production()?;
        if settings.payment_provider() == PaymentProvider::Simulator && !settings.simulator_fits() {
            return Err(StartupError::Setting {
                name: "payment_provider",
                expected: "none on a node without both the api and reactor roles (the simulator \
                           keeps its trades in memory)"
                    .to_owned(),
                value: "simulator".to_owned(),
            });
        }
        if settings.jwt_secret == DEV_JWT_SECRET {
            tracing::warn!("no jwt_secret configured: using the development secret");
        }
        if settings.payment_callback_secret == DEV_PAYMENT_CALLBACK_SECRET {
            tracing::warn!("no payment_callback_secret configured: using the development secret");
        }
        let store = open_store(&settings)
            .await?
            .with_staleness_bound(Duration::from_millis(settings.product_staleness_ms));
        tracing::info!(
            store = store.backend_name(),
            url = %redact_url(&settings.database_url),
            "event store ready"
        );
        let listener =
            TcpListener::bind(settings.http_addr).map_err(|source| StartupError::Bind {
                addr: settings.http_addr,
                source,
            })?;
        let port = listener.local_addr()?.port();
        let keys = web::Data::new(TokenKeys::new(&settings.jwt_secret));
        let metrics = web::Data::new(Metrics::new()?);
        let api = settings.roles.has(Role::Api);
        let known_ids = Arc::new(
            KnownIds::with_metrics(
                settings.bloom_false_positive_rate,
                settings.bloom_expected_items,
                metrics.registry(),
            )
            .map_err(|err| match err {
                KnownIdsError::Rate(rate) => StartupError::Setting {
                    name: "bloom_false_positive_rate",
                    expected: "between 0 and 1 exclusive".to_owned(),
                    value: rate.to_string(),
                },
                KnownIdsError::Metrics(err) => StartupError::Metrics(err),
            })?,
        );
        // the routes' filter of known ids: this process's appends go in as they commit,
        // everything else from the log (filled now, then followed beside the workers)
        let decorate = |store: event_store::EventStore| {
            let store = store
                .with_upcasters(domain::upcasters())
                .with_staleness_bound(Duration::from_millis(settings.product_staleness_ms));
            if api {
                store.with_append_observer(known_ids.clone())
            } else {
                store
            }
        };
        let store = if api {
            store.with_append_observer(known_ids.clone())
        } else {
            store
        };
        let (stores, shard_map) = connect_shards(&settings, &store, decorate).await?;
        let mut known_from = Vec::new();
        if api {
            for shard in stores.every() {
                let from = known_ids::follow::fill(shard, &known_ids)
                    .await
                    .map_err(|source| StartupError::Store {
                        url: redact_url(&settings.database_url),
                        source,
                    })?;
                known_from.push((shard.clone(), from));
            }
        }
        let admission = web::Data::new(Admission::new(
            AdmissionLimits::of(&settings),
            metrics.registry(),
        )?);
        let owner = format!("{}:{}", hostname(), std::process::id());
        let holder = format!(
            "{owner}:{}",
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        // before anything is leased: a NATS that does not answer stops the start here
        let nats = jetstream(&settings, &holder).await?;
        let order_ids = OrderIdGenerator::start(&store, &owner).await?;
        tracing::info!(worker = order_ids.worker_id(), "order-id worker leased");
        let refund_numbers = SegmentAllocator::new(&store, "refund")?;
        let shutdown = CancellationToken::new();
        let leases = Leases::new(store.clone(), holder, metrics.registry())?;
        // each shard's followers run under the leases of its own database, the default
        // shard's first
        let mut shards: Vec<(event_store::EventStore, Leases)> =
            vec![(store.clone(), leases.clone())];
        if let Some(router) = stores.router() {
            shards.extend(
                router
                    .stores()
                    .filter(|(shard, _)| **shard != ShardName::default_shard())
                    .map(|(name, shard)| (shard.clone(), leases.on(name.as_str(), shard.clone()))),
            );
        }
        metrics.set_roles(&settings.roles);
        let simulator = (settings.payment_provider() == PaymentProvider::Simulator)
            .then(|| Arc::new(payment_simulator(&settings, port, &clock)));
        let gateway: Arc<dyn PaymentGateway> = match &simulator {
            Some(simulator) => simulator.clone(),
            None => Arc::new(NoProvider),
        };
        tracing::info!(
            roles = %settings.roles,
            simulator = simulator.is_some(),
            "payment provider: {}",
            if simulator.is_some() {
                "simulator"
            } else {
                "none"
            }
        );
        let spawned = Workers {
            stores: &stores,
            shards: &shards,
            settings: &settings,
            metrics: &metrics,
            gateway,
            refund_numbers: refund_numbers.clone(),
            clock: &clock,
            shutdown: &shutdown,
            nats,
        }
        .spawn()?;
        let mut workers = spawned.handles;
        for (shard, from) in known_from {
            workers.push(known_ids::follow::follow(
                shard,
                known_ids.clone(),
                from,
                shutdown.clone(),
            ));
        }
        let read_models = web::Data::new(ReadModels::on(stores.db().clone()));
        let simulator_mounted = simulator.is_some();
        let checkout = CheckoutTokens::new(&settings.jwt_secret);
        let payment_timeout = chrono::Duration::seconds(
            i64::try_from(settings.payment_timeout_secs).unwrap_or(i64::MAX),
        );
        let state = web::Data::new(AppState {
            services: Services::new(
                stores.clone(),
                clock.clone(),
                checkout.clone(),
                payment_timeout,
                refund_numbers.clone(),
            ),
            clock,
            checkout,
            callback_key: CallbackKey::new(&settings.payment_callback_secret),
            store,
            stores,
            shard_map,
            settings,
            order_ids,
            simulator,
            trades: spawned.trades,
            leases,
        });
        let app_state = state.clone();
        let drain = Arc::new(Drain::default());
        let grace = Duration::from_secs(app_state.settings.shutdown_grace_secs);

        let server = HttpServer::new({
            let drain = Arc::clone(&drain);
            move || {
                let edge = Edge::new(metrics.clone());
                let drain = Arc::clone(&drain);
                App::new()
                    .wrap(ErrorHandlers::new().default_handler(limits::problem_for_bare_error))
                    // a header every command copies into its events is checked once, up front
                    .wrap_fn(
                        |req, srv| match limits::check_correlation_id(req.headers()) {
                            Ok(()) => srv
                                .call(req)
                                .map(|res| res.map(ServiceResponse::map_into_left_body))
                                .left_future(),
                            Err(problem) => {
                                let refused = req.error_response(problem).map_into_right_body();
                                futures::future::ready(Ok(refused)).right_future()
                            }
                        },
                    )
                    // counts what a graceful shutdown waits for; while draining, connections close
                    .wrap_fn(move |req, srv| {
                        let in_flight = drain.track();
                        let drain = Arc::clone(&drain);
                        srv.call(req).map(move |mut res| {
                            drop(in_flight);
                            if let Ok(res) = &mut res
                                && drain.is_draining()
                            {
                                res.response_mut()
                                    .head_mut()
                                    .set_connection_type(ConnectionType::Close);
                            }
                            res
                        })
                    })
                    // outermost, so that every answer carries its request id and is logged
                    .wrap_fn(move |req, srv| access::serve(req, srv, &edge))
                    .app_data(
                        web::JsonConfig::default()
                            .limit(JSON_BODY_SIZE_MAX_BYTES)
                            .error_handler(|err, _| limits::json_body_problem(&err).into()),
                    )
                    // the raw body of a signed payment notification
                    .app_data(web::PayloadConfig::new(JSON_BODY_SIZE_MAX_BYTES))
                    .app_data(
                        web::PathConfig::default()
                            .error_handler(|err, _| Problem::bad_request(err.to_string()).into()),
                    )
                    .app_data(
                        web::QueryConfig::default()
                            .error_handler(|err, _| Problem::bad_request(err.to_string()).into()),
                    )
                    .app_data(app_state.clone())
                    .app_data(keys.clone())
                    .app_data(metrics.clone())
                    .app_data(read_models.clone())
                    .app_data(web::Data::from(known_ids.clone()))
                    .app_data(admission.clone())
                    .configure(|cfg| {
                        if api {
                            routes::configure(cfg);
                        } else {
                            routes::configure_operations(cfg);
                        }
                    })
                    .configure(|cfg| {
                        // unconfigured, the pay route is absent: 404 as any unknown route
                        if simulator_mounted {
                            cfg.service(simulator_route::pay);
                        }
                    })
            }
        })
        .listen(listener)?
        // signals are the binary's to handle (see `stop_handle`): actix's own graceful stop
        // keeps serving busy keep-alive connections until its timeout
        .disable_signals()
        .shutdown_timeout(grace.as_secs())
        .run();
        Ok(Self {
            port,
            server,
            state,
            shutdown,
            workers,
            drain,
            stop: StopHandle::default(),
            grace,
        })
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A handle that stops the HTTP server at once (and with it the workers), as a crash of
    /// the server would, from elsewhere.
    pub fn server_handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// A handle that asks for the graceful shutdown (see [`crate::shutdown`]), as the binary
    /// does on SIGTERM and SIGINT.
    pub fn stop_handle(&self) -> StopHandle {
        self.stop.clone()
    }

    /// Serves until a graceful stop is asked for ([`stop_handle`](Self::stop_handle)) and
    /// done, or until the server is stopped through its [`server_handle`](Self::server_handle);
    /// then stops the workers and gives up the order-id worker lease.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let handle = self.server.handle();
        let mut running = tokio::spawn(self.server);
        let served = tokio::select! {
            served = &mut running => Some(served),
            () = self.stop.requested() => None,
        };
        let Some(served) = served else {
            let deadlines = Deadlines::from_now(self.grace);
            return stop_gracefully(
                handle,
                running,
                &self.drain,
                deadlines,
                (self.shutdown, self.workers),
                &self.state,
            )
            .await;
        };
        stop_after_halt(self.shutdown, self.workers, &self.state).await;
        served.unwrap_or_else(|err| Err(std::io::Error::other(err)))
    }
}

#[cfg(test)]
mod tests;
