//! The experiments: a fresh database, servers, load, a fault done again and again, then the
//! checks once the load has stopped and the servers have drained.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{TimeDelta, Utc};
use loadgen::client::Api;
use loadgen::rng::Rng;

use crate::check::{Findings, Observed, check};
use crate::database::{Backend, Database};
use crate::leases;
use crate::ledger::Ledger;
use crate::load::{self, Client, Counters};
use crate::node::{Node, ServerConfig};

/// Payment deadline of every order: short, so that deadlines fall due during the run.
const PAYMENT_TIMEOUT_SECS: u64 = 3;
/// How long after its due time an unpaid order may stay uncancelled before the checks count
/// its deadline as unfired (the timer is woken by the log, so it needs the reaction first).
const DEADLINE_SETTLE_SECS: i64 = 3;
/// How long the checks wait for the views and the deadlines to catch up after the load
/// before whatever is still wrong is a violation.
const CHECK_TIMEOUT_SECS: u64 = 120;
/// How often the checks look again while waiting.
const CHECK_POLL_INTERVAL_MS: u64 = 1_000;
/// `orders reconcile` runs until clean, at most this many times, this far apart (its
/// tolerance for lag covers the run; this covers a slow start).
const RECONCILE_ATTEMPTS_MAX: u32 = 3;
/// Wait between reconcile attempts.
const RECONCILE_RETRY_SECS: u64 = 5;
/// The servers' shutdown grace period (`shutdown_grace_secs`, set for them).
pub const SHUTDOWN_GRACE_SECS: u64 = 10;
/// What a SIGTERM'd server gets beyond the grace period before it counts as hung.
const SHUTDOWN_MARGIN_SECS: u64 = 10;

/// What is done to the system, again and again, under load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// SIGKILL a server, then start it again on the same database.
    SigKill,
    /// Terminate every PostgreSQL connection to the experiment's database.
    CutConnections,
    /// Hold a transaction open, alternately in the cluster's `postgres` database and in the
    /// experiment's own.
    LongTransaction,
    /// SIGTERM a server, check that it exits within the grace period, start it again.
    SigTerm,
}

impl Fault {
    /// The figure's word for one of it.
    fn noun(self) -> &'static str {
        match self {
            Self::SigKill => "kills",
            Self::CutConnections => "cuts",
            Self::LongTransaction => "held transactions",
            Self::SigTerm => "SIGTERMs",
        }
    }
}

/// One experiment.
#[derive(Debug, Clone, Copy)]
pub struct Experiment {
    /// Its name on the command line and in the figures.
    pub name: &'static str,
    /// The store.
    pub backend: Backend,
    /// Servers on the one database; the clients are spread over them.
    pub nodes: usize,
    /// What is done to them.
    pub fault: Fault,
}

/// Every experiment, in the order they run.
pub const EXPERIMENTS: [Experiment; 6] = [
    Experiment {
        name: "sigkill-postgres",
        backend: Backend::Postgres,
        nodes: 1,
        fault: Fault::SigKill,
    },
    Experiment {
        name: "sigkill-sqlite",
        backend: Backend::Sqlite,
        nodes: 1,
        fault: Fault::SigKill,
    },
    Experiment {
        name: "cut-connections",
        backend: Backend::Postgres,
        nodes: 1,
        fault: Fault::CutConnections,
    },
    Experiment {
        name: "two-nodes",
        backend: Backend::Postgres,
        nodes: 2,
        fault: Fault::SigKill,
    },
    Experiment {
        name: "long-transaction",
        backend: Backend::Postgres,
        nodes: 1,
        fault: Fault::LongTransaction,
    },
    Experiment {
        name: "sigterm",
        backend: Backend::Postgres,
        nodes: 1,
        fault: Fault::SigTerm,
    },
];

/// How hard and how long.
#[derive(Debug, Clone, Copy)]
pub struct Intensity {
    /// Faults per experiment (long-transaction: transactions held).
    pub faults: u32,
    /// Load between faults (and before the first and after the last).
    pub interval: Duration,
    /// How long a long transaction is held.
    pub hold: Duration,
    /// Transactions held in the long-transaction experiment.
    pub holds: u32,
    /// Concurrent clients.
    pub clients: usize,
}

impl Intensity {
    /// About three minutes for all six experiments on two shared cores.
    pub const SHORT: Self = Self {
        faults: 3,
        interval: Duration::from_secs(3),
        hold: Duration::from_secs(10),
        holds: 2,
        clients: 6,
    };
    /// Twenty faults per experiment.
    pub const LONG: Self = Self {
        faults: 20,
        interval: Duration::from_secs(5),
        hold: Duration::from_secs(20),
        holds: 6,
        clients: 8,
    };
}

/// Where and with what the experiments run.
#[derive(Debug, Clone)]
pub struct Setup {
    /// The `orders` binary.
    pub bin: PathBuf,
    /// The PostgreSQL cluster's maintenance database (databases are created beside it).
    pub admin_url: String,
    /// Server logs and SQLite files.
    pub work_dir: PathBuf,
}

/// What an experiment did and found.
#[derive(Debug)]
pub struct Outcome {
    /// The experiment's name.
    pub name: &'static str,
    /// The fault.
    pub fault: Fault,
    /// Faults done.
    pub faults: u32,
    /// Orders acknowledged.
    pub orders: usize,
    /// Of them, left unpaid.
    pub unpaid: usize,
    /// Payments acknowledged (duplicates included).
    pub payments: usize,
    /// What the checks found.
    pub findings: Findings,
    /// `None` when `orders reconcile` was clean, else its report.
    pub reconcile: Option<String>,
    /// Violations of the experiment's own (a hung shutdown, stalled deadlines).
    pub violations: Vec<String>,
    /// Latest a deadline fired after it was due.
    pub lateness_max_ms: i64,
    /// Longest SIGTERM to exit (the sigterm experiment).
    pub exit_max: Option<Duration>,
    /// Longest from killing a node until another held each of its leases (several nodes).
    pub handover_max: Option<Duration>,
    /// Requests sent again after no answer or a 5xx.
    pub retried: u64,
    /// Operations given up.
    pub abandoned: u64,
    /// ERROR lines in the servers' logs.
    pub error_lines: usize,
    /// Wall time.
    pub elapsed: Duration,
    /// Where the evidence is, for a failed run.
    pub evidence: String,
}

impl Outcome {
    /// Nothing wrong.
    pub fn passed(&self) -> bool {
        self.findings.is_clean() && self.reconcile.is_none() && self.violations.is_empty()
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:<17} {} {}, orders {} ({} unpaid), payments {}, {}, reconcile {}, \
             deadline late max {:.1} s",
            self.name,
            self.faults,
            self.fault.noun(),
            self.orders,
            self.unpaid,
            self.payments,
            self.findings,
            if self.reconcile.is_none() {
                "clean"
            } else {
                "DIFFERENCES"
            },
            self.lateness_max_ms as f64 / 1_000.0,
        )?;
        if let Some(exit) = self.exit_max {
            write!(f, ", exit after SIGTERM max {:.1} s", exit.as_secs_f64())?;
        }
        if let Some(handover) = self.handover_max {
            write!(
                f,
                ", leases handed over within {:.1} s",
                handover.as_secs_f64()
            )?;
        }
        write!(
            f,
            ", retried {}, abandoned {}, ERROR lines {}, {:.0} s: {}",
            self.retried,
            self.abandoned,
            self.error_lines,
            self.elapsed.as_secs_f64(),
            if self.passed() { "ok" } else { "FAILED" }
        )
    }
}

/// Runs `experiment` at `intensity`. An error is a run that could not be carried out (a
/// server that did not come back counts as one); violations are in the [`Outcome`].
pub async fn run(
    experiment: Experiment,
    intensity: Intensity,
    setup: &Setup,
) -> anyhow::Result<Outcome> {
    let started = Instant::now();
    std::fs::create_dir_all(&setup.work_dir)?;
    let db = Database::create(experiment.backend, &setup.admin_url, &setup.work_dir).await?;
    let result = run_on(experiment, intensity, setup, &db, started).await;
    match &result {
        Ok(outcome) if outcome.passed() => db.drop_it().await?,
        // keep the database for whoever reads the failure
        _ => {}
    }
    result.with_context(|| format!("{}: database {} kept", experiment.name, db.url()))
}

async fn run_on(
    experiment: Experiment,
    intensity: Intensity,
    setup: &Setup,
    db: &Database,
    started: Instant,
) -> anyhow::Result<Outcome> {
    let run = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let jwt_secret = format!("chaos-jwt-{}", uuid::Uuid::new_v4().simple());
    let callback_secret = format!("chaos-callback-{}", uuid::Uuid::new_v4().simple());
    let config = ServerConfig {
        bin: setup.bin.clone(),
        database_url: db.url(),
        env: [
            ("ORDERS_JWT_SECRET", jwt_secret.as_str()),
            ("ORDERS_PAYMENT_CALLBACK_SECRET", callback_secret.as_str()),
            (
                "ORDERS_PAYMENT_TIMEOUT_SECS",
                &PAYMENT_TIMEOUT_SECS.to_string(),
            ),
            ("ORDERS_PAYMENT_SWEEP_INTERVAL_SECS", "5"),
            ("ORDERS_ABANDONED_PLACEMENT_SECS", "10"),
            (
                "ORDERS_SHUTDOWN_GRACE_SECS",
                &SHUTDOWN_GRACE_SECS.to_string(),
            ),
            ("ORDERS_LOG_FORMAT", "json"),
            ("RUST_LOG", "warn"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect(),
    };
    let mut nodes = Vec::with_capacity(experiment.nodes);
    for i in 0..experiment.nodes {
        let log = setup
            .work_dir
            .join(format!("{}-{run}-node{i}.log", experiment.name));
        let mut node = Node::new(config.clone(), log)?;
        node.start().await?;
        nodes.push(node);
    }
    let evidence = format!(
        "database {}, server logs {}",
        db.url(),
        nodes
            .iter()
            .map(|n| n.log().display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let apis: Vec<Api> = nodes
        .iter()
        .map(|n| Api::new(&n.url(), &jwt_secret, &callback_secret))
        .collect();
    let skus = Arc::new(load::catalogue(&run));
    load::create_catalogue(&apis[0], &skus).await?;
    // with several nodes, which of them runs which follower of the log
    let urls: Vec<String> = nodes.iter().map(Node::url).collect();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()?;
    let expected_leases = if experiment.nodes > 1 {
        Some(leases::settle(&http, &urls).await?)
    } else {
        None
    };
    let watch_stop = Arc::new(AtomicBool::new(false));
    let overlaps = expected_leases
        .as_ref()
        .map(|_| leases::watch_overlaps(http.clone(), urls.clone(), Arc::clone(&watch_stop)));
    let mut handover_max: Option<Duration> = None;

    let ledger = Arc::new(Ledger::default());
    let counters = Arc::new(Counters::default());
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..intensity.clients)
        .map(|i| {
            let client = Client {
                api: apis[i % apis.len()].clone(),
                buyer: format!("chaos-{run}-b{i}"),
                rng: Rng::new(i as u64 + 1),
                skus: Arc::clone(&skus),
                ledger: Arc::clone(&ledger),
                counters: Arc::clone(&counters),
                run: run.clone(),
            };
            tokio::spawn(client.run(Arc::clone(&stop)))
        })
        .collect();

    let mut violations = Vec::new();
    let mut exit_max: Option<Duration> = None;
    let faults = match experiment.fault {
        Fault::LongTransaction => intensity.holds,
        _ => intensity.faults,
    };
    let grace = Duration::from_secs(SHUTDOWN_GRACE_SECS + SHUTDOWN_MARGIN_SECS);
    let mut fault_error = None;
    // long transactions held: (in the experiment's own database, from, to) in Unix ms
    let mut holds: Vec<(bool, i64, i64)> = Vec::new();
    for k in 0..faults {
        tokio::time::sleep(intensity.interval).await;
        let faulted = Instant::now();
        let node = &mut nodes[k as usize % experiment.nodes];
        let done = match experiment.fault {
            Fault::SigKill => async {
                node.kill().await?;
                node.start().await.map(|_| ())
            }
            .await,
            Fault::SigTerm => async {
                match node.terminate(grace).await? {
                    Some(took) => exit_max = exit_max.max(Some(took)),
                    None => {
                        exit_max = Some(grace);
                        violations.push(format!(
                            "SIGTERM {}: the server did not exit within {} s ({SHUTDOWN_GRACE_SECS} s \
                             grace + {SHUTDOWN_MARGIN_SECS} s) under load and was SIGKILLed \
                             (issue 23 part 2: shutdown must never hang); see {}",
                            k + 1,
                            grace.as_secs(),
                            node.log().display()
                        ));
                    }
                }
                node.start().await.map(|_| ())
            }
            .await,
            Fault::CutConnections => db.cut_connections().await.map(|_| ()),
            Fault::LongTransaction => {
                let same_database = k % 2 == 1;
                let from = Utc::now().timestamp_millis();
                let held = db.hold_transaction(same_database, intensity.hold).await;
                holds.push((same_database, from, Utc::now().timestamp_millis()));
                held
            }
        };
        if let Err(err) = done {
            fault_error = Some(err.context(format!("fault {} of {}", k + 1, experiment.name)));
            break;
        }
        if let Some(expected) = &expected_leases {
            match leases::handed_over(&http, &urls, expected, faulted).await {
                Ok(took) => handover_max = handover_max.max(Some(took)),
                Err(missing) => violations.push(format!(
                    "fault {}: leases {missing:?} were held by no node {} s after it",
                    k + 1,
                    leases::HANDOVER_LIMIT.as_secs()
                )),
            }
        }
    }
    if fault_error.is_none() {
        tokio::time::sleep(intensity.interval).await;
    }
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.await.context("a load client panicked")?;
    }
    watch_stop.store(true, Ordering::Relaxed);
    if let Some(overlaps) = overlaps {
        violations.extend(overlaps.await.context("the lease watcher panicked")?);
    }
    if let Some(err) = fault_error {
        for node in &mut nodes {
            node.kill().await.ok();
        }
        return Err(err);
    }
    for node in &mut nodes {
        if !node.is_running() {
            violations.push(format!(
                "a server exited on its own during the run; see {}",
                node.log().display()
            ));
            node.start().await?;
        }
    }

    let entries = ledger.entries();
    let (findings, observed) = settle_and_check(db, &entries).await?;
    let lateness_max_ms = observed.lateness_max_ms(i64::MIN, i64::MAX);
    let limit_ms = i64::try_from(intensity.hold.as_millis() / 2).unwrap_or(i64::MAX);
    for (same_database, from, to) in holds {
        let late_ms = observed.lateness_max_ms(from, to);
        if late_ms > limit_ms {
            let (place, part) = if same_database {
                (
                    "in the experiment's own database (reading nothing of the log, writing nothing)",
                    "the log's readers must wait only for transactions that write the log",
                )
            } else {
                (
                    "in the cluster's postgres database",
                    "a transaction elsewhere in the cluster must not stall them",
                )
            };
            violations.push(format!(
                "{PAYMENT_TIMEOUT_SECS} s payment deadlines due while a transaction was held open \
                 {place} for {} s fired up to {:.1} s late (limit: half the hold): the views and \
                 reactions stalled behind it; {part} (issue 23 part 6)",
                intensity.hold.as_secs(),
                late_ms as f64 / 1_000.0,
            ));
        }
    }
    let reconcile = reconcile(setup, db).await?;
    let error_lines = nodes.iter().map(Node::error_lines).sum();
    for node in &mut nodes {
        if node.terminate(grace).await?.is_none() && experiment.fault == Fault::SigTerm {
            violations.push(format!(
                "final SIGTERM: the idle server did not exit within {} s; see {}",
                grace.as_secs(),
                node.log().display()
            ));
        }
    }
    Ok(Outcome {
        name: experiment.name,
        fault: experiment.fault,
        faults,
        orders: entries.orders.len(),
        unpaid: entries.unpaid(),
        payments: entries.payments.len(),
        findings,
        reconcile,
        violations,
        lateness_max_ms,
        exit_max,
        handover_max,
        retried: counters.retried.load(Ordering::Relaxed),
        abandoned: counters.abandoned.load(Ordering::Relaxed),
        error_lines,
        elapsed: started.elapsed(),
        evidence,
    })
}

/// Waits until every deadline of the log has had its time, then checks until clean or
/// [`CHECK_TIMEOUT_SECS`]; answers the last findings and what they were found in.
async fn settle_and_check(
    db: &Database,
    entries: &crate::ledger::Entries,
) -> anyhow::Result<(Findings, Observed)> {
    let settle = TimeDelta::seconds(DEADLINE_SETTLE_SECS);
    let observed = db.observe().await?;
    let latest_due = observed
        .log
        .values()
        .filter_map(|o| o.payment_due_at)
        .max()
        .unwrap_or_else(Utc::now);
    let wait = (latest_due + settle - Utc::now())
        .to_std()
        .unwrap_or_default();
    tokio::time::sleep(wait).await;
    let deadline = Instant::now() + Duration::from_secs(CHECK_TIMEOUT_SECS);
    loop {
        let observed = db.observe().await?;
        let findings = check(entries, &observed, Utc::now(), settle);
        if findings.is_clean() || Instant::now() >= deadline {
            return Ok((findings, observed));
        }
        tokio::time::sleep(Duration::from_millis(CHECK_POLL_INTERVAL_MS)).await;
    }
}

/// Runs `orders reconcile` until it exits 0; `None` when clean, else its last report.
async fn reconcile(setup: &Setup, db: &Database) -> anyhow::Result<Option<String>> {
    let mut report = String::new();
    for attempt in 1..=RECONCILE_ATTEMPTS_MAX {
        let output = tokio::process::Command::new(&setup.bin)
            .args(["reconcile", "--catch-up", "--database-url", &db.url()])
            .env_remove("DATABASE_URL")
            .env("RUST_LOG", "warn")
            .output()
            .await
            .context("running orders reconcile")?;
        if output.status.success() {
            return Ok(None);
        }
        report = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        if attempt < RECONCILE_ATTEMPTS_MAX {
            tokio::time::sleep(Duration::from_secs(RECONCILE_RETRY_SECS)).await;
        }
    }
    Ok(Some(report))
}
