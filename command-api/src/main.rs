//! The `orders` command line: run the server, migrate the store, sign tokens and payment
//! callbacks for trying the API, probe a server's readiness.
// The command line talks to its user on stdout and stderr.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use command_api::auth::{Role, TokenKeys};
use command_api::config::{LogFormat, Overrides, SETTINGS_HELP, Settings};
use command_api::healthcheck;
use command_api::payments::signature::CallbackKey;
use command_api::roles::{Role as NodeRole, Roles};
use command_api::shutdown::StopHandle;
use command_api::startup::{Application, open_store};
use command_api::tail::{self, TailArgs, TailError};
use command_api::telemetry;
use tokio::signal::unix::{SignalKind, signal};

/// The order platform: an event-sourced order system for e-commerce.
#[derive(Parser)]
#[command(name = "orders", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP server (command API, health, metrics) and the reactions beside it.
    #[command(after_help = SETTINGS_HELP)]
    Serve(Serve),
    /// Apply every crate's migrations and exit (`serve` also applies them).
    #[command(after_help = SETTINGS_HELP)]
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
    #[command(after_help = SETTINGS_HELP)]
    SignCallback {
        #[command(flatten)]
        common: Common,
        /// The exact body to send (default: read from stdin, byte for byte).
        body: Option<String>,
    },
    /// Replay every order and SKU from the log, compare each with every view that holds it
    /// (order detail or archive, stock) and check the money and stock
    /// invariants. Prints a report; exits 1 on any difference, 0 when clean. Safe beside a
    /// running server.
    #[command(after_help = SETTINGS_HELP)]
    Reconcile {
        #[command(flatten)]
        common: Common,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
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
    /// Rebuild projections from position zero into shadow tables and swap them in atomically,
    /// while a server keeps serving (its runners carry on from the swapped-in checkpoint).
    /// Prints progress (events/s, ETA) to stderr.
    #[command(after_help = SETTINGS_HELP)]
    Replay {
        #[command(flatten)]
        common: Common,
        /// Only this projection: `orders` (order detail, with the buyer and seller lists) or
        /// `stock`.
        #[arg(long, value_name = "NAME")]
        projection: Option<String>,
    },
    /// Move settled orders (Completed, Cancelled, Refunded) whose last change is older than the
    /// threshold from the hot order views to the archive, in batches of one transaction each,
    /// until none is left. Safe beside a running server and safe to interrupt: a batch moves
    /// all of its orders and its high-water mark, or nothing. Archived orders are still
    /// answered by GET /v1/orders/{id}, listed with ?archived=true, and brought back by any
    /// later event. Prints each batch to stderr and a summary to stdout.
    #[command(after_help = SETTINGS_HELP)]
    Archive {
        #[command(flatten)]
        common: Common,
        /// Archive orders whose last change is more than this many days ago (default: the
        /// archive_after_days setting, 90).
        #[arg(long, value_name = "DAYS")]
        older_than_days: Option<u32>,
        /// Orders per batch (default: the archive_batch_size setting, 500).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=i64::from(projections::archive::ARCHIVE_BATCH_SIZE_MAX)))]
        batch_size: Option<u32>,
        /// Stop after this many batches (default: until none is left).
        #[arg(long, value_name = "N")]
        max_batches: Option<u64>,
    },
    /// Show an order's events with their metadata (who, when, dedup key, correlation) and its
    /// state as of a time, as JSON.
    #[command(after_help = SETTINGS_HELP)]
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
    #[command(subcommand)]
    DeadLetters(DeadLetterCommand),
    /// Exit 0 when the server's /readyz answers 200 with status ready within 2 s, else 1 with
    /// the reason on stderr: the probe of a container (the image has no curl).
    #[command(after_help = SETTINGS_HELP)]
    Healthcheck {
        #[command(flatten)]
        common: Common,
        /// The server, e.g. http://127.0.0.1:8080 (default: the http_addr setting, 0.0.0.0
        /// and [::] asked on loopback).
        #[arg(long, value_name = "URL")]
        url: Option<String>,
    },
    /// Print every event the relay publishes to NATS JetStream, one JSON envelope per line
    /// (needs NATS_URL; exits 2 without it). With --durable, a second run with the same name
    /// resumes after the last line printed.
    #[command(after_help = SETTINGS_HELP)]
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
        /// The JetStream stream (default `ORDERS`).
        #[arg(long, value_name = "NAME")]
        stream: Option<String>,
    },
}

/// `orders dead-letters ...`.
#[derive(Subcommand)]
enum DeadLetterCommand {
    /// List the parked events, oldest first: id, follower, event, attempts, last error.
    #[command(after_help = SETTINGS_HELP)]
    List {
        #[command(flatten)]
        common: Common,
        /// Only the dead letters of this follower (e.g. `orders`, `order-reactions`).
        #[arg(long, value_name = "NAME")]
        follower: Option<String>,
    },
    /// Ask the server running the event's follower to run it again, and wait for the outcome:
    /// exits 0 once it was handled (the dead letter is removed), 1 when it failed again (its
    /// new error is printed) or nothing picked it up in time (the request stays).
    #[command(after_help = SETTINGS_HELP)]
    Retry {
        #[command(flatten)]
        common: Common,
        /// The dead letter's id (from `orders dead-letters list`).
        id: i64,
        /// How long to wait for the outcome.
        #[arg(long, value_name = "SECS", default_value_t = 30)]
        wait_secs: u64,
    },
}

/// How often `orders dead-letters retry` looks for the outcome.
const RETRY_POLL_INTERVAL_MS: u64 = 250;

/// `orders serve`: the settings, and the roles of this node.
#[derive(Args)]
struct Serve {
    #[command(flatten)]
    common: Common,
    /// The roles of this node, comma-separated: api, projector, reactor, relay, timer
    /// (default: all). A projection, a reaction or the relay runs on one node of its role at a
    /// time. Env: ORDERS_ROLES.
    #[arg(long = "role", value_name = "ROLES", value_delimiter = ',')]
    roles: Vec<NodeRole>,
}

impl Serve {
    fn settings(&self) -> anyhow::Result<Settings> {
        let roles = if self.roles.is_empty() {
            None
        } else {
            Some(Roles::new(self.roles.iter().copied())?)
        };
        self.common.settings_with(roles)
    }
}

/// Settings come from defaults, then `--config FILE`, then environment variables, then these
/// flags. Environment: DATABASE_URL, NATS_URL, ORDERS_HTTP_ADDR, ORDERS_JWT_SECRET,
/// ORDERS_PAYMENT_PROVIDER, ORDERS_PAYMENT_CALLBACK_SECRET,
/// ORDERS_CHECKOUT_TTL_SECS, ORDERS_PAYMENT_TIMEOUT_SECS, ORDERS_PAYMENT_SWEEP_INTERVAL_SECS,
/// ORDERS_SIMULATOR_* (callback faults, refund settling), ORDERS_ARCHIVE_* (the archiver),
/// ORDERS_PRODUCT_STALENESS_MS, ORDERS_LOG_FORMAT.
#[derive(Args)]
struct Common {
    /// TOML file with any of the settings (keys as the ORDERS_ variables, lower case, without
    /// the prefix; database_url, nats_url); a key that is no setting is refused.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Event store: `sqlite:PATH` (embedded, the default `sqlite:./data/orders.db`) or
    /// `postgres://USER@HOST:PORT/DB`. Env: DATABASE_URL.
    #[arg(long, value_name = "URL")]
    database_url: Option<String>,
    /// NATS JetStream server for the event relay (default: none, in-process). Env: NATS_URL.
    #[arg(long, value_name = "URL")]
    nats_url: Option<String>,
    /// Address to listen on (default 127.0.0.1:8080; port 0 picks a free port).
    /// Env: ORDERS_HTTP_ADDR.
    #[arg(long, value_name = "ADDR")]
    http_addr: Option<std::net::SocketAddr>,
    /// Log format (default pretty). Env: ORDERS_LOG_FORMAT. Log filter: RUST_LOG.
    #[arg(long, value_enum)]
    log_format: Option<LogFormat>,
}

impl Common {
    fn settings(&self) -> anyhow::Result<Settings> {
        self.settings_with(None)
    }

    /// The settings, with `roles` over every other layer when given.
    fn settings_with(&self, roles: Option<Roles>) -> anyhow::Result<Settings> {
        let overrides = Overrides {
            roles,
            database_url: self.database_url.clone(),
            nats_url: self.nats_url.clone(),
            http_addr: self.http_addr,
            log_format: self.log_format,
        };
        Ok(Settings::load(self.config.as_deref(), &overrides)?)
    }
}

/// mimalloc: the server and the replay allocate many short-lived buffers from several threads,
/// where glibc's allocator spent a third of the replay's CPU and held on to memory. Built
/// without transparent huge pages (`no_thp`): with them each fresh region of the heap was backed
/// by 2 MB pages, zeroed whole on first touch, and the server's peak RSS in the bench was 219
/// MB; without them a place-pay run peaks at 54 MB against 93-98 MB.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    match run(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("orders: {err:#}");
            match err.downcast_ref::<TailError>() {
                Some(TailError::NatsUrlMissing) => ExitCode::from(2),
                _ => ExitCode::FAILURE,
            }
        }
    }
}

/// SIGTERM or SIGINT starts the graceful shutdown; a second one of either ends the process at
/// once.
async fn stop_on_signals(stop: StopHandle) {
    let Ok(mut terminate) = signal(SignalKind::terminate()) else {
        tracing::error!("cannot listen for SIGTERM: stop the server with SIGKILL");
        return;
    };
    let mut signals = 0;
    loop {
        tokio::select! {
            _ = terminate.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        signals += 1;
        if signals > 1 {
            eprintln!("orders: stopping at once");
            std::process::exit(1);
        }
        tracing::info!("stop signal: shutting down gracefully (send it again to stop at once)");
        stop.stop();
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(serve) => {
            let settings = serve.settings()?;
            telemetry::init(settings.log_format);
            let app = Application::build(settings).await?;
            tracing::info!(port = app.port(), "serving");
            tokio::spawn(stop_on_signals(app.stop_handle()));
            app.run_until_stopped().await?;
        }
        Command::Migrate(common) => {
            let settings = common.settings()?;
            telemetry::init(settings.log_format);
            let store = open_store(&settings).await?;
            eprintln!("orders: {} event store migrated", store.backend_name());
        }
        Command::Token {
            common,
            role,
            sub,
            ttl_secs,
        } => {
            let settings = common.settings()?;
            let token = TokenKeys::new(&settings.jwt_secret).issue(
                &sub,
                role,
                chrono::Utc::now().timestamp(),
                ttl_secs,
            )?;
            println!("{token}");
        }
        Command::SignCallback { common, body } => {
            let settings = common.settings()?;
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
        Command::Status { common, json } => {
            let settings = common.settings()?;
            telemetry::init(settings.log_format);
            let store = open_store(&settings).await?;
            let status = command_api::status::status(&store).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&status)?);
            } else {
                print!("{status}");
            }
        }
        Command::Reconcile { common, json } => {
            let settings = common.settings()?;
            telemetry::init(settings.log_format);
            let store = open_store(&settings).await?;
            let report = projections::reconcile::reconcile(&store).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                println!(
                    "reconciled {} orders and {} SKUs: {} difference(s)",
                    report.orders_checked,
                    report.skus_checked,
                    report.differences.len()
                );
                for d in &report.differences {
                    println!("{:<20} {:<14} {:<24} {}", d.kind, d.view, d.id, d.detail);
                }
            }
            if !report.is_clean() {
                anyhow::bail!("reconcile found {} difference(s)", report.differences.len());
            }
        }
        Command::Replay { common, projection } => {
            let settings = common.settings()?;
            telemetry::init(settings.log_format);
            let store = open_store(&settings).await?;
            let projections = match projection.as_deref() {
                None => projections::Projection::ALL.to_vec(),
                Some(name) => vec![
                    projections::Projection::parse(name)
                        .ok_or_else(|| anyhow::anyhow!("no projection {name:?} (orders, stock)"))?,
                ],
            };
            for projection in projections {
                let name = projection.name();
                let mut shown = std::time::Instant::now();
                let replayed = projections::replay::replay(&store, projection, |p| {
                    use projections::replay::Stage;
                    match p.stage {
                        Stage::Reading
                            if shown.elapsed() >= std::time::Duration::from_millis(500) =>
                        {
                            shown = std::time::Instant::now();
                            eprint!(
                                "\rorders: replaying {name}: {}/{} events, {:.0} events/s, ETA {:.0} s   ",
                                p.events, p.total, p.events_per_sec, p.eta_secs
                            );
                        }
                        Stage::Reading => {}
                        Stage::Indexing => {
                            eprint!(
                                "\rorders: replaying {name}: {} events read; indexing the rebuilt tables   ",
                                p.events
                            );
                        }
                        Stage::Swapping => {
                            eprint!("\rorders: replaying {name}: swapping the rebuilt tables in   ");
                        }
                    }
                })
                .await?;
                eprintln!(
                    "\rorders: {name} rebuilt from {replayed} events and swapped in          "
                );
            }
        }
        Command::Archive {
            common,
            older_than_days,
            batch_size,
            max_batches,
        } => {
            let settings = common.settings()?;
            telemetry::init(settings.log_format);
            let store = open_store(&settings).await?;
            let days = older_than_days.unwrap_or(settings.archive_after_days);
            let archiver = projections::Archiver::new(
                &store,
                chrono::TimeDelta::days(i64::from(days)),
                batch_size.unwrap_or(settings.archive_batch_size),
            );
            eprintln!(
                "orders: archiving settled orders last changed before {}",
                archiver.cutoff().to_rfc3339()
            );
            let run = archiver
                .run(max_batches, |batch| {
                    eprintln!(
                        "orders: archive batch {}: {} orders moved (mark: order {})",
                        batch.progress.batches, batch.moved, batch.progress.order_id
                    );
                })
                .await?;
            println!(
                "archived {} orders in {} batches ({} moved by every run so far)",
                run.moved, run.batches, run.progress.orders
            );
        }
        Command::Audit {
            common,
            order_id,
            at,
        } => {
            let settings = common.settings()?;
            telemetry::init(settings.log_format);
            let store = open_store(&settings).await?;
            let at = at.unwrap_or_else(chrono::Utc::now);
            match projections::audit::audit(&store, &order_id, at).await? {
                Some(audit) => println!("{}", serde_json::to_string_pretty(&audit)?),
                None => anyhow::bail!("no order {order_id} in the log"),
            }
        }
        Command::DeadLetters(command) => dead_letters(command).await?,
        Command::Healthcheck { common, url } => {
            let base = match url {
                Some(url) => url,
                None => healthcheck::local_url(common.settings()?.http_addr),
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
            let settings = common.settings()?;
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

async fn dead_letters(command: DeadLetterCommand) -> anyhow::Result<()> {
    match command {
        DeadLetterCommand::List { common, follower } => {
            let settings = common.settings()?;
            telemetry::init(settings.log_format);
            let store = open_store(&settings).await?;
            let letters = store.dead_letters(follower.as_deref(), false).await?;
            println!("{} dead letter(s)", letters.len());
            for letter in &letters {
                let parked = chrono::DateTime::from_timestamp_millis(letter.parked_at_ms)
                    .map_or_else(|| letter.parked_at_ms.to_string(), |t| t.to_rfc3339());
                println!(
                    "{:<6} {:<20} {} {}/{} #{} at position {}, parked {parked} after {} attempt(s){}\n       {}",
                    letter.id,
                    letter.follower,
                    letter.event_type,
                    letter.aggregate_type,
                    letter.aggregate_id,
                    letter.sequence,
                    letter.checkpoint.position,
                    letter.attempts,
                    if letter.retry_requested {
                        ", retry requested"
                    } else {
                        ""
                    },
                    letter.error
                );
            }
        }
        DeadLetterCommand::Retry {
            common,
            id,
            wait_secs,
        } => {
            let settings = common.settings()?;
            telemetry::init(settings.log_format);
            let store = open_store(&settings).await?;
            let Some(letter) = store.dead_letter(id).await? else {
                anyhow::bail!("no dead letter {id} (see `orders dead-letters list`)");
            };
            store.request_retry(id).await?;
            eprintln!(
                "orders: asked {} to run dead letter {id} again; waiting up to {wait_secs} s",
                letter.follower
            );
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(wait_secs);
            loop {
                match store.dead_letter(id).await? {
                    None => {
                        println!("dead letter {id} was handled and removed");
                        return Ok(());
                    }
                    Some(now) if !now.retry_requested => {
                        anyhow::bail!("dead letter {id} failed again: {}", now.error);
                    }
                    Some(_) if std::time::Instant::now() >= deadline => {
                        anyhow::bail!(
                            "no server running {} took dead letter {id} within {wait_secs} s; \
                             the request stays and is run when one does",
                            letter.follower
                        );
                    }
                    Some(_) => {
                        tokio::time::sleep(std::time::Duration::from_millis(
                            RETRY_POLL_INTERVAL_MS,
                        ))
                        .await;
                    }
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Cli;

    /// clap checks a command's arguments only when that command is parsed: every
    /// subcommand's, at once (two flags of one name would panic only when used).
    #[test]
    fn every_subcommand_is_well_formed() {
        Cli::command().debug_assert();
    }
}
