//! `loadgen`: runs one benchmark scenario against a running `orders serve`, or measures the
//! order-id generation rate, the NATS baseline or the relay's figures, and prints (and optionally writes as JSON)
//! what it measured.
// The command line reports on stdout and stderr.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand, ValueEnum};
use command_api::config::{Overrides, Settings};
use command_api::healthcheck;
use loadgen::client::Api;
use loadgen::scenario::{RunConfig, Scenario, run};
use loadgen::stats::Report;
use loadgen::{flash, naive, nats, relay, summary};
use tokio_util::sync::CancellationToken;

/// The progress display of `orders`' long runs, shared with it.
#[path = "../../command-api/src/cli/progress.rs"]
mod progress;

/// Load generator for the order platform's benchmarks.
#[derive(Parser)]
#[command(name = "loadgen", about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// How long and how hard a measured step runs, and where its report goes.
#[derive(Args)]
struct Load {
    /// Concurrent clients.
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// Measured seconds.
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// Warm-up seconds before measuring.
    #[arg(long, default_value_t = 5)]
    warmup_secs: u64,
    /// Write the report as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// The server a run is against, and the secrets its tokens and payment notifications are
/// signed with: read from the server's own configuration, as `orders serve` reads it.
#[derive(Args)]
struct Server {
    /// The server's configuration file, read as `orders serve --config` reads it, with the
    /// same ORDERS_* environment: the generator signs tokens and payment notifications
    /// with the secrets the server verifies, and finds it at its http_addr.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// The server, e.g. http://127.0.0.1:8080 (default: the http_addr setting).
    #[arg(long)]
    url: Option<String>,
    /// The server's JWT secret, over the configuration's (to sign the generator's own
    /// tokens).
    #[arg(long)]
    jwt_secret: Option<String>,
    /// The server's payment callback secret, over the configuration's (to sign the
    /// generator's payment notifications).
    #[arg(long)]
    payment_callback_secret: Option<String>,
}

impl Server {
    /// The client of the server, signing with its secrets.
    fn api(self) -> anyhow::Result<Api> {
        let settings = Settings::load(self.config.as_deref(), &Overrides::default())?;
        let url = self
            .url
            .unwrap_or_else(|| healthcheck::local_url(settings.http_addr));
        Ok(Api::new(
            &url,
            &self.jwt_secret.unwrap_or(settings.jwt_secret),
            &self
                .payment_callback_secret
                .unwrap_or(settings.payment_callback_secret),
        ))
    }
}

#[derive(Subcommand)]
enum Command {
    /// Run a scenario with N clients for T seconds after a warm-up.
    Run {
        /// The scenario.
        #[arg(long, value_enum)]
        scenario: Scenario,
        #[command(flatten)]
        server: Server,
        #[command(flatten)]
        load: Load,
        /// SKUs in the catalogue.
        #[arg(long, default_value_t = 1_000)]
        catalogue: usize,
        /// Stock of the hot SKU in `hot-sku-sellout`.
        #[arg(long, default_value_t = 2_000)]
        sellout_stock: u32,
        /// The report's name, when not the scenario's (e.g. `crud-peer-place-pay`).
        #[arg(long)]
        report_name: Option<String>,
    },
    /// Run a flash sale: one campaign (limit 1 per buyer), buyers taken in turn by N clients,
    /// each placement replayed as bots do; reports reservations/s until the sell-out and the
    /// verdict (oversold, over the limit). Against `orders serve` or a peer of `bench/` (which
    /// takes any token).
    FlashSale {
        #[command(flatten)]
        server: Server,
        /// Concurrent clients.
        #[arg(long, default_value_t = 64)]
        clients: usize,
        /// Units the campaign sells.
        #[arg(long, default_value_t = 2_000)]
        stock: u32,
        /// Buyers in all (default: ten a unit of stock).
        #[arg(long)]
        buyers: Option<usize>,
        /// Times each placement is sent again, unchanged, as a bot does.
        #[arg(long, default_value_t = 2)]
        replays: usize,
        /// Every this-many-th buyer tries a second order, which the limit refuses (0: none).
        #[arg(long, default_value_t = 4)]
        second_order_every: usize,
        /// The report's name (`flash-sale` for the platform, `redis-peer-flash-sale`,
        /// `crud-peer-flash-sale` for the peers).
        #[arg(long, default_value = loadgen::flash::figures::OURS)]
        report_name: String,
        /// Write the report as JSON here.
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// Measure hot-sku's baseline: cqrs-es 0.5 and postgres-es 0.5 used naively (one command
    /// per call, load then append, retry on conflict), every client reserving on one SKU over a
    /// pool of 10 connections, as postgres-es makes it.
    Naive {
        /// A database with the postgres-es schema (`bench/pg-events-schema.sql`).
        #[arg(long, env = "DATABASE_URL")]
        database_url: String,
        #[command(flatten)]
        load: Load,
    },
    /// Print the benchmark table and write summary.json from a run's figures.
    Summary {
        /// Folder with the scenario reports (`*.json` written by `run --json`).
        #[arg(long)]
        reports: PathBuf,
        /// The figures the bench script measured outside the load generator.
        #[command(flatten)]
        measured: summary::Measured,
        /// Where to write summary.json.
        #[arg(long)]
        out: PathBuf,
    },
    /// Measure the NATS baseline: JetStream publishes of event-sized messages acknowledged per
    /// second, pipelined in batches and one at a time, on a throwaway stream (file storage,
    /// deleted at the end).
    NatsPublish {
        /// The NATS server, with JetStream on.
        #[arg(long, env = "NATS_URL", default_value = "nats://127.0.0.1:4222")]
        nats_url: String,
        /// Messages in each round.
        #[arg(long, default_value_t = 100_000)]
        messages: usize,
        /// Publishes sent before their acknowledgements are awaited (pipelined rounds).
        #[arg(long, default_value_t = 256)]
        batch: usize,
        /// Rounds of each kind; the medians are reported.
        #[arg(long, default_value_t = 3)]
        rounds: usize,
        /// Write the report as JSON here.
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// Read the relay's commit-to-ack p99 (and p50) from a node's metrics:
    /// `relay_commit_to_ack_seconds`, interpolated within its buckets.
    RelayLag {
        /// The node's metrics, e.g. http://127.0.0.1:8080/metrics.
        #[arg(long)]
        metrics_url: String,
        /// Write the report as JSON here.
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// Time a relay node draining a written log: poll its metrics until it acknowledged
    /// `--events` publishes and its lag reads 0; events per second from its first publish seen.
    RelayDrain {
        /// The relay node's metrics, e.g. http://127.0.0.1:8080/metrics.
        #[arg(long)]
        metrics_url: String,
        /// Events of the log the relay must publish.
        #[arg(long)]
        events: u64,
        /// Longest wait, in seconds.
        #[arg(long, default_value_t = 600)]
        timeout_secs: u64,
        /// Write the report as JSON here.
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// Delete JetStream streams (the bench's relay streams), with their consumers; a stream
    /// that does not exist is not an error.
    NatsDeleteStreams {
        /// The NATS server.
        #[arg(long, env = "NATS_URL", default_value = "nats://127.0.0.1:4222")]
        nats_url: String,
        /// The streams.
        #[arg(required = true)]
        streams: Vec<String>,
    },
    /// Measure how many order ids one generator issues per second on a database.
    Ids {
        /// The event store (`postgres://…` or `sqlite:…`), migrated.
        #[arg(long, env = "DATABASE_URL")]
        database_url: String,
        /// Measured seconds.
        #[arg(long, default_value_t = 5)]
        seconds: u64,
        /// Write `{"order_ids_per_s": …}` here.
        #[arg(long)]
        json: Option<PathBuf>,
    },
}

/// mimalloc: the generator shares the machine's cores with the server and the database it
/// measures, and glibc's allocator took a fifth of its CPU.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    match execute(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("loadgen: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn execute(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Run {
            scenario,
            server,
            load,
            catalogue,
            sellout_stock,
            report_name,
        } => {
            let api = server.api()?;
            let config = RunConfig {
                clients: load.clients,
                duration: Duration::from_secs(load.seconds),
                warmup: Duration::from_secs(load.warmup_secs),
                catalogue,
                sellout_stock,
                run_id: format!("{:x}", chrono::Utc::now().timestamp_millis()),
                done: Arc::default(),
            };
            let name = report_name.clone().unwrap_or_else(|| {
                scenario
                    .to_possible_value()
                    .map_or_else(String::new, |v| v.get_name().to_owned())
            });
            eprintln!(
                "loadgen: {name}: {} clients, {} s warm-up, then {} s measured",
                load.clients, load.warmup_secs, load.seconds
            );
            let shown = show_progress(
                &name,
                "operations",
                None,
                Arc::clone(&config.done),
                Some(config.warmup),
            );
            let report = run(&api, scenario, &config).await;
            shown.end().await;
            let mut report = report.map_err(|f| {
                anyhow::anyhow!("setting up the scenario failed: status {}", f.status)
            })?;
            if let Some(name) = report_name {
                report.scenario = name;
            }
            emit(&report, load.json)?;
        }
        Command::FlashSale {
            server,
            clients,
            stock,
            buyers,
            replays,
            second_order_every,
            report_name,
            json,
        } => {
            let api = server.api()?;
            let config = flash::FlashConfig {
                name: report_name,
                clients,
                stock,
                buyers: buyers.unwrap_or(stock as usize * 10),
                replays,
                second_order_every,
                run_id: format!("{:x}", chrono::Utc::now().timestamp_millis()),
                done: Arc::default(),
            };
            let shown = show_progress(
                &config.name,
                "buyers",
                Some(config.buyers as u64),
                Arc::clone(&config.done),
                None,
            );
            let report = flash::run(&api, &config).await;
            shown.end().await;
            emit(&report?, json)?;
        }
        Command::Naive { database_url, load } => {
            let pool = naive::connect(&database_url).await?;
            let report = naive::hot_aggregate(
                pool.clone(),
                load.clients,
                Duration::from_secs(load.warmup_secs),
                Duration::from_secs(load.seconds),
            )
            .await?;
            pool.close().await;
            emit(&report, load.json)?;
        }
        Command::Summary {
            reports,
            measured,
            out,
        } => {
            let reports = summary::read_reports(&reports)?;
            println!("| figure | value | baseline (same run) | ratio |");
            println!("| --- | --- | --- | --- |");
            for [figure, value, baseline, ratio] in summary::table(&measured, &reports) {
                println!("| {figure} | {value} | {baseline} | {ratio} |");
            }
            std::fs::write(
                &out,
                serde_json::to_vec_pretty(&summary::summary(&measured, &reports))?,
            )?;
            println!("written: {}", out.display());
        }
        Command::NatsPublish {
            nats_url,
            messages,
            batch,
            rounds,
            json,
        } => {
            let config = nats::PublishConfig {
                messages,
                batch,
                rounds,
            };
            let report = nats::measure(&nats_url, &config).await?;
            println!(
                "nats publish: {:.0}/s pipelined in batches of {}, {:.0}/s one at a time \
                 ({} messages of {} bytes a round, medians of {} rounds each)",
                report.nats_publish_per_s,
                report.batch,
                report.nats_publish_one_at_a_time_per_s,
                report.messages,
                report.payload_bytes,
                rounds,
            );
            if let Some(path) = json {
                std::fs::write(&path, serde_json::to_vec_pretty(&report)?)?;
            }
        }
        Command::RelayLag { metrics_url, json } => {
            let report = relay::lag(&metrics_url).await?;
            println!(
                "relay commit to ack: p99 {:.1} ms, p50 {:.1} ms over {} events",
                report.relay_lag_p99_ms, report.relay_lag_p50_ms, report.relay_lag_events
            );
            write_json(json, &report)?;
        }
        Command::RelayDrain {
            metrics_url,
            events,
            timeout_secs,
            json,
        } => {
            let report =
                relay::drain(&metrics_url, events, Duration::from_secs(timeout_secs)).await?;
            println!(
                "relay drain: {:.0} events/s ({} events in {:.2} s after the first publish seen \
                 {:.2} s in; {} published in all)",
                report.relay_events_per_s,
                report.relay_timed_events,
                report.relay_drain_s,
                report.relay_first_publish_after_s,
                report.relay_drained_events,
            );
            write_json(json, &report)?;
        }
        Command::NatsDeleteStreams { nats_url, streams } => {
            let deleted = nats::delete_streams(&nats_url, &streams).await?;
            println!("deleted streams: {}", deleted.join(", "));
        }
        Command::Ids {
            database_url,
            seconds,
            json,
        } => {
            let store = event_store::EventStore::connect(&database_url).await?;
            command_api::migrations::run(&store).await?;
            let generator = ids::OrderIdGenerator::start(&store, "loadgen").await?;
            let end = Instant::now() + Duration::from_secs(seconds);
            let started = Instant::now();
            let mut issued = 0_u64;
            while Instant::now() < end {
                for buyer in 0..1_000_u32 {
                    generator.next_id(&buyer.to_string()).await?;
                }
                issued += 1_000;
            }
            let rate = issued as f64 / started.elapsed().as_secs_f64();
            generator.shutdown().await?;
            println!("order ids: {rate:.0}/s (one generator, {issued} ids)");
            if let Some(path) = json {
                std::fs::write(
                    &path,
                    serde_json::to_vec(&serde_json::json!({ "order_ids_per_s": rate }))?,
                )?;
            }
        }
    }
    Ok(())
}

/// How often the progress display reads its counter.
const PROGRESS_TICK_MS: u64 = 250;

/// A progress display running beside a measured run.
struct Shown {
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Shown {
    /// Ends the display with its last line, before the report is printed.
    async fn end(self) {
        self.stop.cancel();
        // a display that panicked has nothing left to print
        let _ = self.task.await;
    }
}

/// Shows `done` of `total` `unit` on stderr (a bar on a terminal, a line every few seconds
/// elsewhere) until ended; says when the warm-up is over, if the run has one.
fn show_progress(
    what: &str,
    unit: &'static str,
    total: Option<u64>,
    done: Arc<AtomicU64>,
    warmup: Option<Duration>,
) -> Shown {
    let stop = CancellationToken::new();
    let mut progress = progress::Progress::new(what, unit);
    let stopped = stop.clone();
    let what = what.to_owned();
    let mut measure_from = warmup.map(|warmup| Instant::now() + warmup);
    let task = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(PROGRESS_TICK_MS));
        loop {
            tokio::select! {
                () = stopped.cancelled() => break,
                _ = tick.tick() => {
                    if measure_from.is_some_and(|at| Instant::now() >= at) {
                        measure_from = None;
                        progress.step("warm-up over, measuring");
                    }
                    progress.update(done.load(Ordering::Relaxed), total);
                }
            }
        }
        let done = done.load(Ordering::Relaxed);
        progress.finish(&format!("{what}: {done} {unit} done"));
    });
    Shown { stop, task }
}

/// Writes `report` as JSON to `path` when given.
fn write_json(path: Option<PathBuf>, report: &impl serde::Serialize) -> anyhow::Result<()> {
    if let Some(path) = path {
        std::fs::write(&path, serde_json::to_vec_pretty(report)?)?;
    }
    Ok(())
}

/// Prints the report, and writes it as JSON to `json` when given.
fn emit(report: &Report, json: Option<PathBuf>) -> anyhow::Result<()> {
    print_report(report);
    if let Some(path) = json {
        std::fs::write(&path, serde_json::to_vec_pretty(report)?)?;
    }
    Ok(())
}

fn print_report(report: &Report) {
    println!(
        "{:<16} clients {:>3}  {:>9.1} ops/s  {:>9.1} req/s  p50 {:>7.2} ms  p95 {:>7.2} ms  p99 {:>7.2} ms  errors {:?}  refusals {:?}",
        report.scenario,
        report.clients,
        report.operations_per_s,
        report.requests_per_s,
        report.p50_ms,
        report.p95_ms,
        report.p99_ms,
        report.errors,
        report.refusals,
    );
    for (route, latency) in &report.routes {
        println!(
            "  {route:<40} {:>7} requests  p50 {:>7.2} ms  p99 {:>7.2} ms",
            latency.requests, latency.p50_ms, latency.p99_ms
        );
    }
    for (key, value) in &report.extra {
        println!("  {key}: {value}");
    }
}
