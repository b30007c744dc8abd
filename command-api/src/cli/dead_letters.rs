//! `orders dead-letters`: the events a follower of the log could not handle and parked: list
//! them, or ask for one to be run again.

use std::time::Duration;

use clap::Subcommand;
use command_api::config::Overrides;
use event_store::EventStore;

use super::Common;
use super::store::open;

/// How often `orders dead-letters retry` looks for the outcome.
const RETRY_POLL_INTERVAL_MS: u64 = 250;

/// `orders dead-letters ...`.
#[derive(Subcommand)]
pub(crate) enum DeadLetterCommand {
    /// List the parked events, oldest first: id, follower, event, attempts, last error.
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

impl DeadLetterCommand {
    pub(crate) async fn run(self, given: &Overrides) -> anyhow::Result<()> {
        match self {
            Self::List { common, follower } => {
                list_dead_letters(&open(&common.settings(given)?).await?, follower).await
            }
            Self::Retry {
                common,
                id,
                wait_secs,
            } => retry_dead_letter(&open(&common.settings(given)?).await?, id, wait_secs).await,
        }
    }
}

async fn list_dead_letters(store: &EventStore, follower: Option<String>) -> anyhow::Result<()> {
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
    Ok(())
}

async fn retry_dead_letter(store: &EventStore, id: i64, wait_secs: u64) -> anyhow::Result<()> {
    let Some(letter) = store.dead_letter(id).await? else {
        anyhow::bail!("no dead letter {id} (see `orders dead-letters list`)");
    };
    store.request_retry(id).await?;
    eprintln!(
        "orders: asked {} to run dead letter {id} again; waiting up to {wait_secs} s",
        letter.follower
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(wait_secs);
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
                tokio::time::sleep(Duration::from_millis(RETRY_POLL_INTERVAL_MS)).await;
            }
        }
    }
}
