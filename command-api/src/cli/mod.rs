//! The `orders` subcommands: what each takes and what it runs. The settings each one uses are
//! flags of its own ([`settings`]); the work on the store is in [`store`] and
//! [`dead_letters`], on every shard through [`shards`], the progress lines of the long runs in
//! [`progress`].

mod dead_letters;
mod progress;
mod reshard;
mod settings;
mod shards;
mod store;

use std::path::PathBuf;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use command_api::auth::{Role, TokenKeys};
use command_api::config::{Overrides, Settings, redact_url};
use command_api::healthcheck;
use command_api::payments::signature::CallbackKey;
use command_api::startup::{Application, migrate_shard, migrate_store};
use command_api::tail::{self, TailArgs};
use command_api::telemetry;

use dead_letters::DeadLetterCommand;
use settings::{CALLBACKS, DATABASE, Group, HTTP, LOG, NATS, SERVE, TOKENS};
pub(crate) use store::Failure;

/// The order platform: an event-sourced order system for e-commerce.
#[derive(Parser)]
#[command(name = "orders", version, about)]
pub(crate) struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP server (command API, health, metrics) and the reactions beside it.
    Serve(Common),
    /// Apply every crate's migrations and exit, on every shard's database with shards
    /// (`serve` also applies them; no other command does).
    Migrate(Common),
    /// Print a bearer token signed with the configured secret, for trying the API.
    Token {
        #[command(flatten)]
        common: Common,
        /// Role of the token's holder.
        #[arg(long, value_enum)]
        role: Role,
        /// Subject: the buyer id, seller id, operator or provider name.
        #[arg(long)]
        sub: String,
        /// Validity in seconds.
        #[arg(long, default_value_t = 86_400)]
        ttl_secs: i64,
    },
    /// Print the `Orders-Signature` header value for a payment notification body, signed with
    /// the configured payment_callback_secret at the current time, as the payment provider
    /// signs its callbacks (valid for 300 s).
    SignCallback {
        #[command(flatten)]
        common: Common,
        /// The exact body to send (default: read from stdin, byte for byte).
        body: Option<String>,
    },
    /// Replay every order and SKU from the log up to its head when reconcile starts, compare
    /// each with every view that holds it (order detail or archive, stock) and check the money
    /// and stock invariants. Waits for the views to reach that position first. Exits 0 when
    /// clean, 1 on any difference, 2 when it could not compare (the store unreachable or not
    /// migrated, the views still behind after --wait-secs). Safe beside a running server.
    Reconcile(store::Reconcile),
    /// Show each projection, reaction and the relay: its position, its lag in events and
    /// seconds, the node holding it and its dead letters; the other leases; the log's head
    /// and the oldest running transactions (the same as GET /v1/ops/status).
    Status {
        #[command(flatten)]
        common: Common,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show the shard map in force (its version, when and why it was written, which shard
    /// each range of genes is read from and written to) and each configured shard: whether the
    /// map names it and whether it is reachable. Exits 2 when the map names a shard that is
    /// not configured or the map cannot be read (the store unreachable or not migrated: it
    /// never migrates), 1 when a configured shard is unreachable. On SQLite, says the embedded
    /// store is one shard with no map.
    Shards {
        #[command(flatten)]
        common: Common,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Move genes (the partitions of orders, carts, SKUs and products) to another shard while
    /// the nodes serve: copy their events to it and keep copying, compare the copy, switch
    /// the reads, then fence the source and switch the writes (a command on a moving gene
    /// waits, bounded). Each step is recorded: an interrupted move resumes where it stopped
    /// when the command is run again. Progress on stderr. Exits 1 when the copy differs from
    /// the source, 2 when the move could not go on (say why).
    Reshard(reshard::Reshard),
    /// Rebuild projections from position zero into shadow tables and swap them in atomically,
    /// while a server keeps serving (its runners carry on from the swapped-in checkpoint).
    /// With shards, every shard's in turn, each swapped in when rebuilt (--only-shard for
    /// one). Shows progress (events, rate, ETA) on stderr, naming the shard.
    Replay(store::Replay),
    /// Move settled orders (Completed, Cancelled, Refunded) whose last change is older than the
    /// threshold from the hot order views to the archive, in batches of one transaction each,
    /// until none is left. Safe beside a running server and safe to interrupt: a batch moves
    /// all of its orders and its high-water mark, or nothing. Archived orders are still
    /// answered by GET /v1/orders/{id}, listed with ?archived=true, and brought back by any
    /// later event. With shards, every shard's orders in turn (--only-shard for one). Shows
    /// progress on stderr and prints a summary to stdout.
    Archive(store::Archive),
    /// Show an order's events with their metadata (who, when, dedup key, correlation) and its
    /// state as of a time, as JSON. With shards, from the shard the order's gene is read from.
    Audit {
        #[command(flatten)]
        common: Common,
        /// The order id.
        order_id: String,
        /// RFC 3339 time for the state (default: now), e.g. 2026-01-31T12:00:00Z.
        #[arg(long, value_name = "TIME")]
        at: Option<chrono::DateTime<chrono::Utc>>,
    },
    /// Events that a follower of the log (a projection or a reaction) could not handle after
    /// its retries and parked, so that it went on: list them, or ask for one to be run again.
    /// With shards, every shard's (--only-shard for one).
    #[command(subcommand)]
    DeadLetters(DeadLetterCommand),
    /// Exit 0 when the server's /readyz answers 200 with status ready within 2 s, else 1 with
    /// the reason on stderr: the probe of a container (the image has no curl).
    Healthcheck {
        #[command(flatten)]
        common: Common,
        /// The server, e.g. http://127.0.0.1:8080 (default: the http_addr setting, 0.0.0.0
        /// and [::] asked on loopback).
        #[arg(long, value_name = "URL")]
        url: Option<String>,
    },
    /// Print every event the relay publishes to NATS JetStream, one JSON envelope per line
    /// (needs nats_url; exits 2 without it). With --durable, a second run with the same name
    /// resumes after the last line printed.
    Tail {
        #[command(flatten)]
        common: Common,
        /// Only the subjects matching this pattern (default `orders.>`, every event), e.g.
        /// `orders.Order.*.OrderPlaced`.
        #[arg(long, value_name = "PATTERN")]
        subject: Option<String>,
        /// A durable consumer's name, to resume where the last run with it stopped.
        #[arg(long, value_name = "NAME")]
        durable: Option<String>,
        /// Start at the stream's first event rather than at new ones.
        #[arg(long)]
        from_start: bool,
        /// The JetStream stream (default: the nats_stream setting).
        #[arg(long, value_name = "NAME")]
        stream: Option<String>,
    },
}

/// The settings groups of each subcommand (by its path): what it uses and nothing else.
const GROUPS: &[(&[&str], &[Group])] = &[
    (&["serve"], SERVE),
    (&["migrate"], &[DATABASE, LOG]),
    (&["token"], &[TOKENS]),
    (&["sign-callback"], &[CALLBACKS]),
    (&["reconcile"], &[DATABASE, LOG]),
    (&["status"], &[DATABASE, LOG]),
    (&["shards"], &[DATABASE, LOG]),
    (&["reshard"], &[DATABASE, LOG]),
    (&["replay"], &[DATABASE, LOG]),
    (&["archive"], &[DATABASE, LOG]),
    (&["audit"], &[DATABASE, LOG]),
    (&["dead-letters", "list"], &[DATABASE, LOG]),
    (&["dead-letters", "retry"], &[DATABASE, LOG]),
    (&["healthcheck"], &[HTTP]),
    (&["tail"], &[NATS, LOG]),
];

/// The command line: [`Cli`] with each subcommand's settings.
pub(crate) fn command() -> clap::Command {
    GROUPS
        .iter()
        .fold(Cli::command(), |command, (path, groups)| {
            with_groups_at(command, path, groups)
        })
}

/// `command` with `groups` added to its subcommand at `path`.
fn with_groups_at(command: clap::Command, path: &[&str], groups: &[Group]) -> clap::Command {
    match path.split_first() {
        None => settings::with_groups(command, groups),
        Some((name, rest)) => command.mut_subcommand(name, |sub| with_groups_at(sub, rest, groups)),
    }
}

/// The command line of this process, and the settings it was given.
pub(crate) fn parse() -> (Cli, Overrides) {
    let matches = command().get_matches();
    match Cli::from_arg_matches(&matches) {
        Ok(cli) => (cli, settings::overrides(&matches)),
        Err(err) => err.exit(),
    }
}

/// What every subcommand that reads settings takes besides its settings' flags.
#[derive(Args)]
pub(crate) struct Common {
    /// TOML file with any of the settings (keys as the flags, with underscores: http_addr); a
    /// key that is no setting is refused.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

impl Common {
    /// The settings: the defaults, the file, the environment, then `given`.
    pub(crate) fn settings(&self, given: &Overrides) -> anyhow::Result<Settings> {
        Ok(Settings::load(self.config.as_deref(), given)?)
    }
}

/// Runs `cli`'s subcommand with the settings `given` on its command line.
pub(crate) async fn run(cli: Cli, given: Overrides) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(common) => {
            let settings = common.settings(&given)?;
            telemetry::init(settings.log_format);
            let app = Application::build(settings).await?;
            tracing::info!(port = app.port(), "serving");
            tokio::spawn(crate::stop_on_signals(app.stop_handle()));
            app.run_until_stopped().await?;
        }
        Command::Migrate(common) => {
            let settings = common.settings(&given)?;
            telemetry::init(settings.log_format);
            let store = migrate_store(&settings).await?;
            eprintln!("orders: {} event store migrated", store.backend_name());
            for (shard, url) in settings.shards.iter() {
                migrate_shard(&settings, url).await?;
                eprintln!("orders: shard {shard} ({}) migrated", redact_url(url));
            }
        }
        Command::Token {
            common,
            role,
            sub,
            ttl_secs,
        } => {
            let settings = common.settings(&given)?;
            let token = TokenKeys::new(&settings.jwt_secret).issue(
                &sub,
                role,
                chrono::Utc::now().timestamp(),
                ttl_secs,
            )?;
            println!("{token}");
        }
        Command::SignCallback { common, body } => {
            let settings = common.settings(&given)?;
            let body = match body {
                Some(body) => body.into_bytes(),
                None => {
                    let mut body = Vec::new();
                    std::io::Read::read_to_end(&mut std::io::stdin(), &mut body)?;
                    body
                }
            };
            let key = CallbackKey::new(&settings.payment_callback_secret);
            println!("{}", key.sign(chrono::Utc::now().timestamp(), &body));
        }
        Command::Status { common, json } => store::status(&common.settings(&given)?, json).await?,
        Command::Shards { common, json } => {
            let settings = common.settings(&given).map_err(Failure::CouldNotRun)?;
            shards::shards(&settings, json).await?;
        }
        Command::Reconcile(args) => args.run(&given).await?,
        Command::Reshard(args) => args.run(&given).await?,
        Command::Replay(args) => args.run(&given).await?,
        Command::Archive(args) => args.run(&given).await?,
        Command::Audit {
            common,
            order_id,
            at,
        } => store::audit(&common.settings(&given)?, &order_id, at).await?,
        Command::DeadLetters(command) => command.run(&given).await?,
        Command::Healthcheck { common, url } => {
            let base = match url {
                Some(url) => url,
                None => healthcheck::local_url(common.settings(&given)?.http_addr),
            };
            let timeout = std::time::Duration::from_millis(healthcheck::HEALTHCHECK_TIMEOUT_MS);
            healthcheck::check(&healthcheck::readiness_url(&base), timeout).await?;
        }
        Command::Tail {
            common,
            subject,
            durable,
            from_start,
            stream,
        } => {
            let settings = common.settings(&given)?;
            telemetry::init(settings.log_format);
            let args = TailArgs {
                stream,
                subject,
                durable,
                from_start,
            };
            tail::run(&settings, args, std::io::stdout().lock()).await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// clap checks a command's arguments only when that command is parsed: every
    /// subcommand's, at once (two flags of one name would panic only when used).
    #[test]
    fn every_subcommand_is_well_formed() {
        command().debug_assert();
    }

    /// Each subcommand shows the settings it uses, not the server's.
    #[test]
    fn a_subcommand_takes_only_the_settings_it_uses() {
        let command = command();
        let flags = |path: &[&str]| -> Vec<String> {
            let mut sub = &command;
            for name in path {
                sub = sub.find_subcommand(name).expect("the subcommand exists");
            }
            sub.get_arguments()
                .filter_map(|arg| arg.get_long().map(str::to_owned))
                .collect()
        };
        let token = flags(&["token"]);
        assert!(token.contains(&"jwt-secret".to_owned()), "{token:?}");
        assert!(!token.contains(&"http-addr".to_owned()), "{token:?}");
        let reconcile = flags(&["reconcile"]);
        assert!(
            reconcile.contains(&"database-url".to_owned()),
            "{reconcile:?}"
        );
        assert!(
            !reconcile.contains(&"http-addr".to_owned()),
            "{reconcile:?}"
        );
        assert!(
            !reconcile.contains(&"jwt-secret".to_owned()),
            "{reconcile:?}"
        );
        let retry = flags(&["dead-letters", "retry"]);
        assert!(retry.contains(&"database-url".to_owned()), "{retry:?}");
    }
}
