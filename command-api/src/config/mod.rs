//! Typed, layered configuration: defaults, then a TOML file, then environment variables, then
//! command-line flags. Secrets are never printed.

mod load;
mod shards;

use std::net::SocketAddr;

use projections::ArchiveWindow;
use serde::{Deserialize, Serialize};

use relay::{RelaySettings, Retention};

use crate::roles::{Role, Roles};

pub use load::{ConfigError, Overrides, env_var, setting_names};
pub use shards::Shards;

/// The embedded default: a SQLite file next to where the server runs.
pub const DEFAULT_DATABASE_URL: &str = "sqlite:./data/orders.db";
/// The development signing secret used when none is configured: accepted only while the
/// server listens on a loopback address (see [`Settings::check_production`]).
pub const DEV_JWT_SECRET: &str = "orders-dev-secret-change-me";
/// The development secret of the payment provider's callback signatures, likewise accepted
/// only on loopback.
pub const DEV_PAYMENT_CALLBACK_SECRET: &str = "orders-dev-callback-secret-change-me";

/// Every setting of the `orders` binary.
#[derive(Clone, Deserialize, Serialize)]
pub struct Settings {
    /// Event store: `sqlite:PATH` (embedded) or `postgres://…`.
    pub database_url: String,
    /// Connections the process opens to PostgreSQL at most, for its pool (at least 4; the
    /// `LISTEN` connection and the group committer's 4 come on top). Nodes times this must
    /// stay under the server's `max_connections`. SQLite's pool keeps its own size.
    pub postgres_max_connections: u32,
    /// The PostgreSQL databases the shard map names besides `default` (which is
    /// `database_url`), by name (ADR 42). None on the embedded SQLite store, which is one shard.
    pub shards: Shards,
    /// The roles this node plays (`api,projector,reactor,relay,timer`, all by default).
    pub roles: Roles,
    /// NATS JetStream server for the event relay; none runs the in-process bus.
    pub nats_url: Option<String>,
    /// The JetStream stream the relay publishes the log to (created or updated at start).
    pub nats_stream: String,
    /// The first token of every subject: `<prefix>.<aggregate>.<partition>.<event>`.
    pub nats_subject_prefix: String,
    /// How long the stream keeps messages: `limits` (its maximum age), `interest` (until
    /// every consumer acknowledged) or `workqueue` (until one did).
    pub nats_retention: Retention,
    /// Messages older than this are dropped from the stream; 0 keeps them for ever.
    pub nats_max_age_secs: u64,
    /// A message whose `Nats-Msg-Id` the stream saw within this window is dropped.
    pub nats_duplicate_window_secs: u64,
    /// Copies of the stream in a NATS cluster.
    pub nats_replicas: usize,
    /// Deliveries of one message to the cart consumer before it goes to the dead letters.
    pub cart_consumer_max_deliveries: i64,
    /// How long the cart consumer has to acknowledge a message before it is delivered again.
    pub cart_consumer_ack_wait_secs: u64,
    /// Address the HTTP server listens on.
    pub http_addr: SocketAddr,
    /// HS256 secret that signs and verifies bearer tokens and checkout tokens.
    pub jwt_secret: String,
    /// The payment provider: `simulator` (built in, with its pay route) or `none`. Unset, it is
    /// the simulator on a loopback `http_addr` (the embedded setup) and none elsewhere.
    pub payment_provider: Option<PaymentProvider>,
    /// Secret shared with the payment provider: its callbacks carry an HMAC-SHA256 signature
    /// keyed with it (`Orders-Signature`), and the simulator signs with it.
    pub payment_callback_secret: String,
    /// How long a checkout token stays valid.
    pub checkout_ttl_secs: u64,
    /// How long a placed order waits for payment.
    pub payment_timeout_secs: u64,
    /// How often the sweeper fires payment deadlines the timer missed.
    pub payment_sweep_interval_secs: u64,
    /// How old a stock reservation (or a campaign's unit and buyer's claim) with no order may
    /// get before its placement counts as abandoned: the sweeper then rejects the order id and
    /// releases it (ADR 32, 38). Longer than any placement takes.
    pub abandoned_placement_secs: u64,
    /// Payment simulator: success callbacks dropped, per mille.
    pub simulator_callback_drop_permille: u16,
    /// Payment simulator: success callbacks sent twice, per mille.
    pub simulator_callback_duplicate_permille: u16,
    /// Payment simulator: success callbacks delayed, per mille.
    pub simulator_callback_delay_permille: u16,
    /// Payment simulator: how long a delayed callback waits, in ms.
    pub simulator_callback_delay_ms: u64,
    /// Payment simulator: how long after its request a refund is paid out, in ms.
    pub simulator_refund_settle_ms: u64,
    /// Settled orders (`Completed`, `Cancelled`, `Refunded`) move to the archive this many days
    /// after their last change.
    pub archive_after_days: u32,
    /// Orders the archiver moves per batch (one transaction).
    pub archive_batch_size: u32,
    /// UTC time of day in which the server archives (`HH:MM-HH:MM`, `00:00-24:00`, or `off`).
    pub archive_window: ArchiveWindow,
    /// How often the server's archiver looks at the clock (and waits after a failure).
    pub archive_interval_secs: u64,
    /// How far behind the log a placement's check of a product may be (ADR 16); 0 reads
    /// every product on every placement.
    pub product_staleness_ms: u64,
    /// Placements one buyer may start per second (outside a campaign), refilled steadily;
    /// beyond it and its burst, 429 with `Retry-After` (ADR 39). 0: no limit.
    pub admission_buyer_per_sec: u32,
    /// Placements one buyer may start at once, above `admission_buyer_per_sec`.
    pub admission_buyer_burst: u32,
    /// Placements one buyer may start per second in one campaign. 0: no limit.
    pub admission_campaign_buyer_per_sec: u32,
    /// Placements one buyer may start at once in one campaign.
    pub admission_campaign_buyer_burst: u32,
    /// Placements the node starts per second, all buyers together. 0: no limit.
    pub admission_global_per_sec: u32,
    /// Placements the node starts at once, all buyers together, above the global rate.
    pub admission_global_burst: u32,
    /// Placements the node runs at once; one more is answered 429 at once rather than
    /// queued without bound. 0: no bound.
    pub admission_queue_max: u32,
    /// Whether the risk rule "more than `risk_placements_per_minute` placements by one buyer
    /// in a minute" refuses placements (429 `risk-refused`).
    pub risk_placements_rule: bool,
    /// The placements per buyer and minute that the risk rule allows.
    pub risk_placements_per_minute: u32,
    /// The false-positive rate of the filter of known ids (a made-up id that is read from the
    /// database after all), between 0 and 1 exclusive, while it holds at most
    /// `bloom_expected_items`; beyond them it grows (ADR 39).
    pub bloom_false_positive_rate: f64,
    /// The ids (orders, SKUs, products) the filter of known ids is sized for at start.
    pub bloom_expected_items: u64,
    /// Log format: `pretty` or `json`.
    pub log_format: LogFormat,
    /// How long a graceful shutdown (SIGTERM, SIGINT) may take: requests in flight finish,
    /// background work stops and leases are given back within it, then the process exits.
    pub shutdown_grace_secs: u64,
}

/// How logs are written.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Pretty,
    /// One JSON object per line.
    Json,
}

/// The payment provider the server talks to.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
pub enum PaymentProvider {
    /// The built-in simulator: it opens trades, pays them at `POST
    /// /v1/simulator/orders/{id}/pay` and sends signed callbacks.
    #[serde(rename = "simulator")]
    Simulator,
    /// No provider: payments arrive only as signed callbacks, an unpaid order is cancelled at
    /// its deadline, and refunds are left open for an operator to pay out.
    #[serde(rename = "none")]
    Disabled,
}

/// A development default in use while the server listens beyond loopback.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the setting {name} (environment {env}) is {what}, which is refused while http_addr \
     {http_addr} is not a loopback address: set a secret of your own"
)]
pub struct InsecureSetting {
    /// The setting.
    pub name: &'static str,
    /// Its environment variable.
    pub env: &'static str,
    /// What is wrong with it.
    pub what: &'static str,
    /// Where the server would listen.
    pub http_addr: SocketAddr,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            database_url: DEFAULT_DATABASE_URL.to_owned(),
            postgres_max_connections: event_store::POSTGRES_POOL_CONNECTIONS_DEFAULT,
            shards: Shards::default(),
            roles: Roles::all(),
            nats_url: None,
            nats_stream: RelaySettings::default().stream,
            nats_subject_prefix: RelaySettings::default().subject_prefix,
            nats_retention: Retention::Limits,
            nats_max_age_secs: RelaySettings::default().max_age.as_secs(),
            nats_duplicate_window_secs: RelaySettings::default().duplicate_window.as_secs(),
            nats_replicas: 1,
            cart_consumer_max_deliveries: relay::consumer::MAX_DELIVER_DEFAULT,
            cart_consumer_ack_wait_secs: relay::consumer::ACK_WAIT_DEFAULT_MS / 1_000,
            http_addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            jwt_secret: DEV_JWT_SECRET.to_owned(),
            payment_provider: None,
            payment_callback_secret: DEV_PAYMENT_CALLBACK_SECRET.to_owned(),
            checkout_ttl_secs: 900,
            payment_timeout_secs: 900,
            payment_sweep_interval_secs: 600,
            abandoned_placement_secs: 300,
            simulator_callback_drop_permille: 0,
            simulator_callback_duplicate_permille: 0,
            simulator_callback_delay_permille: 0,
            simulator_callback_delay_ms: 0,
            simulator_refund_settle_ms: 1_000,
            archive_after_days: projections::archive::ARCHIVE_AFTER_DAYS_DEFAULT,
            archive_batch_size: projections::archive::ARCHIVE_BATCH_SIZE_DEFAULT,
            archive_window: ArchiveWindow::default(),
            archive_interval_secs: 300,
            product_staleness_ms: 100,
            admission_buyer_per_sec: 1_000,
            admission_buyer_burst: 1_000,
            admission_campaign_buyer_per_sec: 5,
            admission_campaign_buyer_burst: 10,
            admission_global_per_sec: 100_000,
            admission_global_burst: 100_000,
            admission_queue_max: 4_096,
            risk_placements_rule: false,
            risk_placements_per_minute: 120,
            bloom_false_positive_rate: 0.01,
            bloom_expected_items: 1_000_000,
            log_format: LogFormat::Pretty,
            shutdown_grace_secs: 10,
        }
    }
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("database_url", &redact_url(&self.database_url))
            .field("postgres_max_connections", &self.postgres_max_connections)
            .field("shards", &self.shards)
            .field("roles", &self.roles.to_string())
            .field("nats_url", &self.nats_url)
            .field("nats_stream", &self.nats_stream)
            .field("nats_subject_prefix", &self.nats_subject_prefix)
            .field("nats_retention", &self.nats_retention)
            .field("nats_max_age_secs", &self.nats_max_age_secs)
            .field(
                "nats_duplicate_window_secs",
                &self.nats_duplicate_window_secs,
            )
            .field("nats_replicas", &self.nats_replicas)
            .field(
                "cart_consumer_max_deliveries",
                &self.cart_consumer_max_deliveries,
            )
            .field(
                "cart_consumer_ack_wait_secs",
                &self.cart_consumer_ack_wait_secs,
            )
            .field("http_addr", &self.http_addr)
            .field("jwt_secret", &"<redacted>")
            .field("payment_provider", &self.payment_provider)
            .field("payment_callback_secret", &"<redacted>")
            .field("checkout_ttl_secs", &self.checkout_ttl_secs)
            .field("payment_timeout_secs", &self.payment_timeout_secs)
            .field(
                "payment_sweep_interval_secs",
                &self.payment_sweep_interval_secs,
            )
            .field("abandoned_placement_secs", &self.abandoned_placement_secs)
            .field(
                "simulator_callback_drop_permille",
                &self.simulator_callback_drop_permille,
            )
            .field(
                "simulator_callback_duplicate_permille",
                &self.simulator_callback_duplicate_permille,
            )
            .field(
                "simulator_callback_delay_permille",
                &self.simulator_callback_delay_permille,
            )
            .field(
                "simulator_callback_delay_ms",
                &self.simulator_callback_delay_ms,
            )
            .field(
                "simulator_refund_settle_ms",
                &self.simulator_refund_settle_ms,
            )
            .field("archive_after_days", &self.archive_after_days)
            .field("archive_batch_size", &self.archive_batch_size)
            .field("archive_window", &self.archive_window)
            .field("archive_interval_secs", &self.archive_interval_secs)
            .field("product_staleness_ms", &self.product_staleness_ms)
            .field("admission_buyer_per_sec", &self.admission_buyer_per_sec)
            .field("admission_buyer_burst", &self.admission_buyer_burst)
            .field(
                "admission_campaign_buyer_per_sec",
                &self.admission_campaign_buyer_per_sec,
            )
            .field(
                "admission_campaign_buyer_burst",
                &self.admission_campaign_buyer_burst,
            )
            .field("admission_global_per_sec", &self.admission_global_per_sec)
            .field("admission_global_burst", &self.admission_global_burst)
            .field("admission_queue_max", &self.admission_queue_max)
            .field("risk_placements_rule", &self.risk_placements_rule)
            .field(
                "risk_placements_per_minute",
                &self.risk_placements_per_minute,
            )
            .field("bloom_false_positive_rate", &self.bloom_false_positive_rate)
            .field("bloom_expected_items", &self.bloom_expected_items)
            .field("log_format", &self.log_format)
            .field("shutdown_grace_secs", &self.shutdown_grace_secs)
            .finish()
    }
}

/// A database URL with any password replaced, for logs.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme + 3],
                    &userinfo[..colon],
                    &url[at..]
                ),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

impl Settings {
    /// Where and how the relay publishes the log (`nats_*`).
    pub fn relay_settings(&self) -> RelaySettings {
        RelaySettings {
            stream: self.nats_stream.clone(),
            subject_prefix: self.nats_subject_prefix.clone(),
            retention: self.nats_retention,
            max_age: std::time::Duration::from_secs(self.nats_max_age_secs),
            duplicate_window: std::time::Duration::from_secs(self.nats_duplicate_window_secs),
            replicas: self.nats_replicas,
        }
    }

    /// Whether the server listens on a loopback address only (the embedded, development
    /// setup), where the development defaults are allowed.
    pub fn is_loopback(&self) -> bool {
        self.http_addr.ip().to_canonical().is_loopback()
    }

    /// The payment provider in force: the configured one, else the simulator on loopback (on
    /// a node with the api and reactor roles) and none elsewhere, so that no deployment lets
    /// buyers pay for free unless asked to.
    pub fn payment_provider(&self) -> PaymentProvider {
        self.payment_provider
            .unwrap_or(if self.is_loopback() && self.simulator_fits() {
                PaymentProvider::Simulator
            } else {
                PaymentProvider::Disabled
            })
    }

    /// Whether the simulator can run on this node: it keeps its trades in memory, opened by a
    /// reaction and paid through an API route, so it needs both roles.
    pub fn simulator_fits(&self) -> bool {
        self.roles.has(Role::Api) && self.roles.has(Role::Reactor)
    }

    /// Refuses the development secrets (and empty ones) when the server listens beyond
    /// loopback: they are in the source, so anyone could mint tokens or sign payments.
    pub fn check_production(&self) -> Result<(), InsecureSetting> {
        if self.is_loopback() {
            return Ok(());
        }
        let secrets = [
            (
                "jwt_secret",
                "ORDERS_JWT_SECRET",
                &self.jwt_secret,
                DEV_JWT_SECRET,
            ),
            (
                "payment_callback_secret",
                "ORDERS_PAYMENT_CALLBACK_SECRET",
                &self.payment_callback_secret,
                DEV_PAYMENT_CALLBACK_SECRET,
            ),
        ];
        for (name, env, value, dev) in secrets {
            let what = if value.is_empty() {
                "empty"
            } else if value == dev {
                "the development secret"
            } else {
                continue;
            };
            return Err(InsecureSetting {
                name,
                env,
                what,
                http_addr: self.http_addr,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
