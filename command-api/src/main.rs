//! The `orders` command line: run the server, migrate the store, sign tokens and payment
//! callbacks for trying the API, probe a server's readiness, and the operator's commands on
//! the store (see [`cli`]).
// The command line talks to its user on stdout and stderr.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod cli;

use std::process::ExitCode;

use command_api::shutdown::StopHandle;
use command_api::tail::TailError;
use tokio::signal::unix::{SignalKind, signal};

/// mimalloc: the server and the replay allocate many short-lived buffers from several threads,
/// where glibc's allocator spent a third of the replay's CPU and held on to memory. Built
/// without transparent huge pages (`no_thp`): with them each fresh region of the heap was backed
/// by 2 MB pages, zeroed whole on first touch, and the server's peak RSS in the bench was 219
/// MB; without them a place-pay run peaks at 54 MB against 93-98 MB.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The exit code of a command that could not do its work (as opposed to one that found
/// something wrong, 1).
const EXIT_COULD_NOT_RUN: u8 = 2;

#[tokio::main]
async fn main() -> ExitCode {
    let (cli, given) = cli::parse();
    match cli::run(cli, given).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("orders: {}", each_cause_once(&err));
            let could_not_run = matches!(
                err.downcast_ref::<TailError>(),
                Some(TailError::NatsUrlMissing)
            ) || err.downcast_ref::<cli::Failure>().is_some();
            if could_not_run {
                ExitCode::from(EXIT_COULD_NOT_RUN)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

/// `err` and its causes, joined by `: `, each cause once. sqlx's I/O and database errors
/// carry their cause in their own message and return it as their `source()` as well, so the
/// whole chain (`{err:#}`) said "Connection refused (os error 111)" twice: a cause whose text
/// the message so far already holds is left out.
fn each_cause_once(err: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in err.chain() {
        let cause = cause.to_string();
        if text.is_empty() {
            text = cause;
        } else if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
    }
    text
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

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("error communicating with database: {0}")]
    struct SaysItsCause(#[source] std::io::Error);

    #[test]
    fn a_cause_already_in_the_message_is_said_once() {
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        let said = refused.to_string();
        let err = anyhow::Error::new(SaysItsCause(refused)).context("cannot open the event store");
        assert_eq!(
            each_cause_once(&err),
            format!("cannot open the event store: error communicating with database: {said}")
        );
        let plain = anyhow::anyhow!("the cause").context("what failed");
        assert_eq!(each_cause_once(&plain), "what failed: the cause");
    }
}
