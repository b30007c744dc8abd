//! `chaos`: runs the fault-injection experiments and prints one figure line each; exits 1 on
//! any violation.
// The command line talks to its user on stdout and stderr.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::PathBuf;
use std::process::ExitCode;

use chaos::experiment::{self, EXPERIMENTS, Intensity, Setup};
use clap::Parser;

/// Kill, cut and stall `orders serve` under load; check nothing acknowledged was lost.
#[derive(Parser)]
#[command(name = "chaos", about)]
struct Cli {
    /// The `orders` binary to run (e.g. target/debug/orders).
    #[arg(long, value_name = "PATH")]
    orders_bin: PathBuf,
    /// The PostgreSQL cluster's maintenance database; each experiment creates its own
    /// database beside it and drops it when clean.
    #[arg(
        long,
        value_name = "URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    admin_url: String,
    /// Server logs and SQLite files go here.
    #[arg(long, value_name = "DIR", default_value = "target/chaos")]
    work_dir: PathBuf,
    /// Twenty faults per experiment instead of three.
    #[arg(long)]
    long: bool,
    /// Only these experiments (default: all): sigkill-postgres, sigkill-sqlite,
    /// cut-connections, two-nodes, long-transaction, sigterm.
    experiments: Vec<String>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let chosen: Vec<_> = EXPERIMENTS
        .iter()
        .filter(|e| cli.experiments.is_empty() || cli.experiments.iter().any(|n| n == e.name))
        .copied()
        .collect();
    if let Some(unknown) = cli
        .experiments
        .iter()
        .find(|n| !EXPERIMENTS.iter().any(|e| e.name == n.as_str()))
    {
        eprintln!("chaos: no experiment {unknown:?}");
        return ExitCode::from(2);
    }
    let intensity = if cli.long {
        Intensity::LONG
    } else {
        Intensity::SHORT
    };
    let setup = Setup {
        bin: cli.orders_bin,
        admin_url: cli.admin_url,
        work_dir: cli.work_dir,
    };
    let mut failed = 0;
    for experiment in chosen {
        eprintln!("chaos: {} ...", experiment.name);
        match experiment::run(experiment, intensity, &setup).await {
            Ok(outcome) => {
                println!("{outcome}");
                if !outcome.passed() {
                    failed += 1;
                    eprint!("{}", outcome.findings.describe(10));
                    for violation in &outcome.violations {
                        eprintln!("  {violation}");
                    }
                    if let Some(report) = &outcome.reconcile {
                        eprintln!("  orders reconcile failed:\n{report}");
                    }
                    eprintln!("  evidence: {}", outcome.evidence);
                }
            }
            Err(err) => {
                failed += 1;
                println!("{:<17} could not be carried out: {err:#}", experiment.name);
            }
        }
    }
    if failed > 0 {
        eprintln!("chaos: {failed} experiment(s) failed");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
