//! `orders dead-letters`: the events a follower of the log could not handle and parked. With
//! shards, each shard's followers park theirs in that shard's database, numbered there: `list`
//! shows every shard's (or the one `--only-shard` names), `retry` asks on the shard that
//! holds the id (the one named, when two hold it).

use std::time::Duration;

use clap::Subcommand;
use command_api::config::Overrides;
use event_store::EventStore;

use super::Common;
use super::shards::{OnShard, OnlyShard, open_every};
use super::store::{Failure, open};

/// How often `orders dead-letters retry` looks for the outcome.
const RETRY_POLL_INTERVAL_MS: u64 = 250;

/// `orders dead-letters ...`.
#[derive(Subcommand)]
pub(crate) enum DeadLetterCommand {
    /// List the parked events, oldest first: id, follower, event, attempts, last error; with
    /// shards, each shard's under its name.
    List {
        #[command(flatten)]
        common: Common,
        /// Only the dead letters of this follower (e.g. `orders`, `order-reactions`).
        #[arg(long, value_name = "NAME")]
        follower: Option<String>,
        #[command(flatten)]
        only: OnlyShard,
    },
    /// Ask the server running the event's follower to run it again, and wait for the outcome:
    /// exits 0 once it was handled (the dead letter is removed), 1 when it failed again (its
    /// new error is printed) or nothing picked it up in time (the request stays). With shards,
    /// the id is looked up on every shard (ids are per database: name the shard with
    /// --only-shard when two have it).
    Retry {
        #[command(flatten)]
        common: Common,
        /// The dead letter's id (from `orders dead-letters list`).
        id: i64,
        /// How long to wait for the outcome.
        #[arg(long, value_name = "SECS", default_value_t = 30)]
        wait_secs: u64,
        #[command(flatten)]
        only: OnlyShard,
    },
}

impl DeadLetterCommand {
    pub(crate) async fn run(self, given: &Overrides) -> anyhow::Result<()> {
        match self {
            Self::List {
                common,
                follower,
                only,
            } => {
                let settings = common.settings(given)?;
                let stores = open_every(&settings, open(&settings).await?).await?;
                for on in only.pick(&stores)? {
                    list(&on, follower.as_deref()).await?;
                }
                Ok(())
            }
            Self::Retry {
                common,
                id,
                wait_secs,
                only,
            } => {
                let settings = common.settings(given)?;
                let stores = open_every(&settings, open(&settings).await?).await?;
                let on = holding(only.pick(&stores)?, id).await?;
                retry(&on, id, wait_secs).await
            }
        }
    }
}

async fn list(on: &OnShard, follower: Option<&str>) -> anyhow::Result<()> {
    let letters = on.store.dead_letters(follower, false).await?;
    match &on.shard {
        Some(shard) => println!("shard {shard}: {} dead letter(s)", letters.len()),
        None => println!("{} dead letter(s)", letters.len()),
    }
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

/// The one shard of `picked` that holds dead letter `id`.
async fn holding(picked: Vec<OnShard>, id: i64) -> anyhow::Result<OnShard> {
    let several = picked.len() > 1;
    let mut found = Vec::new();
    for on in picked {
        if on.store.dead_letter(id).await?.is_some() {
            found.push(on);
        }
    }
    if found.len() > 1 {
        let shards: Vec<String> = found.iter().map(|on| on.on()).collect();
        return Err(Failure::CouldNotRun(anyhow::anyhow!(
            "dead letter {id} is{}: ids are per shard, name one with --only-shard",
            shards.join(" and")
        ))
        .into());
    }
    match found.pop() {
        Some(on) => Ok(on),
        None if several => {
            anyhow::bail!("no dead letter {id} on any shard (see `orders dead-letters list`)")
        }
        None => anyhow::bail!("no dead letter {id} (see `orders dead-letters list`)"),
    }
}

async fn retry(on: &OnShard, id: i64, wait_secs: u64) -> anyhow::Result<()> {
    let store: &EventStore = &on.store;
    let Some(letter) = store.dead_letter(id).await? else {
        anyhow::bail!("no dead letter {id} (see `orders dead-letters list`)");
    };
    store.request_retry(id).await?;
    eprintln!(
        "orders: asked {}{} to run dead letter {id} again; waiting up to {wait_secs} s",
        letter.follower,
        on.on()
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
                    "no server running {}{} took dead letter {id} within {wait_secs} s; \
                     the request stays and is run when one does",
                    letter.follower,
                    on.on()
                );
            }
            Some(_) => {
                tokio::time::sleep(Duration::from_millis(RETRY_POLL_INTERVAL_MS)).await;
            }
        }
    }
}
