//! What every follower of the log is doing, in one report (`orders status`,
//! `GET /v1/ops/status`): each projection, reaction and the relay with its position, its lag
//! in events and seconds, the node holding its lease and its dead letters; the leases of the
//! work that has no checkpoint (timer, archiver, sweeper); the log's head; and the oldest
//! running transactions, which hold every reader back. One screen that explains a stall.

use std::collections::BTreeMap;
use std::fmt;

use event_store::follower::LAG_EVENTS_COUNTED_MAX;
use event_store::{Checkpoint, EventStore, Lease, StoreError};
use projections::{Projection, ReadModels};
use serde::Serialize;
use shards::{ShardName, Stores};
use sqlx::Row;

/// One follower of the log.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct FollowerStatus {
    /// Its lease's name: `projection:<name>`, `reaction:<name>` or `relay`.
    pub name: String,
    /// The log position it has handled up to.
    pub position: i64,
    /// Events of the log it has not handled yet, counted up to [`LAG_EVENTS_COUNTED_MAX`].
    pub lag_events: u64,
    /// Whether there are more than [`LAG_EVENTS_COUNTED_MAX`] (then `lag_events` is that).
    pub lag_capped: bool,
    /// Age of the oldest event it has not handled, in seconds (0 when caught up).
    pub lag_seconds: f64,
    /// The node holding its lease now, if any holds it.
    pub holder: Option<String>,
    /// Its parked events.
    pub dead_letters: usize,
}

/// A lease of work without a checkpoint of its own.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct LeaseStatus {
    /// The lease (`timer`, `archiver`, `placement-sweeper`).
    pub name: String,
    /// The node holding it, when live.
    pub holder: Option<String>,
}

/// The report.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Status {
    /// The newest position a reader of the log may read now.
    pub head_position: i64,
    /// Every follower with a checkpoint, by name.
    pub followers: Vec<FollowerStatus>,
    /// The other leases.
    pub leases: Vec<LeaseStatus>,
    /// How long the oldest running append to the log has run, in seconds (PostgreSQL).
    pub oldest_append_seconds: Option<f64>,
    /// How long the cluster's oldest transaction with a transaction id has run (PostgreSQL).
    pub oldest_writer_seconds: Option<f64>,
    /// Who holds that transaction and what it runs (PostgreSQL, when one runs).
    pub oldest_writer: Option<TransactionHolder>,
    /// With shards (ADR 42), the same of every other shard's log (the report above is the
    /// default shard's); absent without shards.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub shards: Vec<ShardStatus>,
}

/// The process holding a transaction, as `pg_stat_activity` shows it.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct TransactionHolder {
    /// The server process's id (`pg_terminate_backend` takes it).
    pub pid: i32,
    /// The client's `application_name` (empty when it set none).
    pub application_name: String,
    /// `active`, `idle in transaction`, ...
    pub state: String,
    /// The database it is connected to.
    pub database: String,
    /// The start of its current or last statement, on one line (at most
    /// [`HOLDER_QUERY_CHARS_MAX`] characters).
    pub query: String,
    /// How long its transaction has run, in seconds.
    pub seconds: f64,
}

/// How much of the holder's statement the report shows.
pub const HOLDER_QUERY_CHARS_MAX: i32 = 60;

/// The followers of one shard's log other than the default's.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ShardStatus {
    /// The shard's name.
    pub shard: String,
    /// The newest position a reader of the shard's log may read now.
    pub head_position: i64,
    /// Every follower of the shard's log with a checkpoint, by name.
    pub followers: Vec<FollowerStatus>,
    /// The other leases of the shard's database.
    pub leases: Vec<LeaseStatus>,
}

/// The report of the default shard's log ([`status`]) with every other shard's in
/// [`Status::shards`].
pub async fn status_of_every(stores: &Stores) -> Result<Status, StoreError> {
    let mut report = status(stores.default_store()).await?;
    if let Some(router) = stores.router() {
        for (shard, store) in router.stores() {
            if *shard == ShardName::default_shard() {
                continue;
            }
            let of_shard = status(store).await?;
            report.shards.push(ShardStatus {
                shard: shard.to_string(),
                head_position: of_shard.head_position,
                followers: of_shard.followers,
                leases: of_shard.leases,
            });
        }
    }
    Ok(report)
}

/// The prefix of a reaction's lease; the relay's lease is its checkpoint's name, the `sellers`
/// follower's (a projection's, ADR 45) `projection:sellers`.
const REACTION_LEASE_PREFIX: &str = "reaction:";

/// The lease of the follower whose checkpoint is named `checkpoint`.
fn lease_of(checkpoint: &str) -> String {
    if checkpoint == relay::RELAY_NAME {
        checkpoint.to_owned()
    } else if checkpoint == projections::sellers::SELLERS_NAME {
        format!("projection:{checkpoint}")
    } else {
        format!("{REACTION_LEASE_PREFIX}{checkpoint}")
    }
}

/// Reads the report from `store`.
pub async fn status(store: &EventStore) -> Result<Status, StoreError> {
    let leases: BTreeMap<String, Lease> = store
        .leases()
        .await?
        .into_iter()
        .map(|lease| (lease.name.clone(), lease))
        .collect();
    let holder = |name: &str| {
        leases
            .get(name)
            .filter(|lease| lease.is_live())
            .map(|lease| lease.holder.clone())
    };
    let mut parked: BTreeMap<String, usize> = BTreeMap::new();
    for letter in store.dead_letters(None, false).await? {
        *parked.entry(letter.follower).or_default() += 1;
    }
    let models = ReadModels::new(store);
    let mut named: Vec<(String, String, Checkpoint)> = Vec::new();
    for projection in Projection::ALL {
        let checkpoint = models.checkpoint(projection).await.map_err(|err| {
            StoreError::Corrupt(format!("{} checkpoint: {err}", projection.name()))
        })?;
        named.push((
            format!("projection:{}", projection.name()),
            projection.name().to_owned(),
            checkpoint,
        ));
    }
    for (name, checkpoint) in store.checkpoints().await? {
        named.push((lease_of(&name), name, checkpoint));
    }
    let mut followers = Vec::with_capacity(named.len());
    for (lease, follower, checkpoint) in named {
        let pending = store.pending(checkpoint, LAG_EVENTS_COUNTED_MAX).await?;
        let lag_seconds = pending.oldest.map_or(0.0, |oldest| {
            (chrono::Utc::now() - oldest).num_milliseconds().max(0) as f64 / 1_000.0
        });
        followers.push(FollowerStatus {
            holder: holder(&lease),
            name: lease,
            position: checkpoint.position,
            lag_events: pending.events,
            lag_capped: pending.events >= LAG_EVENTS_COUNTED_MAX as u64,
            lag_seconds,
            dead_letters: parked.get(&follower).copied().unwrap_or(0),
        });
    }
    let with_checkpoint: Vec<&str> = followers.iter().map(|f| f.name.as_str()).collect();
    let others = leases
        .keys()
        .filter(|name| !with_checkpoint.contains(&name.as_str()))
        .map(|name| LeaseStatus {
            name: name.clone(),
            holder: holder(name),
        })
        .collect();
    let ages = store.transaction_ages().await?;
    let oldest_writer = oldest_writer(store).await?;
    Ok(Status {
        head_position: store.head().await?.position,
        followers,
        leases: others,
        oldest_append_seconds: ages.as_ref().and_then(|a| a.oldest_append_secs),
        oldest_writer_seconds: ages.and_then(|a| a.oldest_writer_secs),
        oldest_writer,
        shards: Vec::new(),
    })
}

/// The holder of the cluster's oldest transaction with a transaction id, on PostgreSQL.
async fn oldest_writer(store: &EventStore) -> Result<Option<TransactionHolder>, StoreError> {
    let Some(pool) = store.postgres_pool() else {
        return Ok(None);
    };
    let row = sqlx::query(include_str!("oldest_transaction.sql"))
        .bind(HOLDER_QUERY_CHARS_MAX)
        .fetch_optional(pool)
        .await?;
    let Some(row) = row else { return Ok(None) };
    Ok(Some(TransactionHolder {
        pid: row.try_get("pid")?,
        application_name: row.try_get("application_name")?,
        state: row.try_get("state")?,
        database: row.try_get("database")?,
        query: row.try_get("query")?,
        seconds: row.try_get("seconds")?,
    }))
}

impl fmt::Display for Status {
    /// A table for the terminal.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "log head: position {}", self.head_position)?;
        writeln!(
            f,
            "{:<34} {:>10} {:>11} {:>8} {:>5}  holder",
            "follower", "position", "lag events", "lag s", "dead"
        )?;
        let nobody = "(none: no node of its role is running)";
        for follower in &self.followers {
            let lag = if follower.lag_capped {
                format!("{}+", follower.lag_events)
            } else {
                follower.lag_events.to_string()
            };
            writeln!(
                f,
                "{:<34} {:>10} {:>11} {:>8.1} {:>5}  {}",
                follower.name,
                follower.position,
                lag,
                follower.lag_seconds,
                follower.dead_letters,
                follower.holder.as_deref().unwrap_or(nobody)
            )?;
        }
        for lease in &self.leases {
            writeln!(
                f,
                "{:<34} {:>10} {:>11} {:>8} {:>5}  {}",
                lease.name,
                "-",
                "-",
                "-",
                "-",
                lease.holder.as_deref().unwrap_or(nobody)
            )?;
        }
        match (self.oldest_append_seconds, self.oldest_writer_seconds) {
            (None, None) => {}
            (append, writer) => writeln!(
                f,
                "oldest running append to the log: {:.1} s; oldest writing transaction: {:.1} s",
                append.unwrap_or(0.0),
                writer.unwrap_or(0.0)
            )?,
        }
        if let Some(holder) = &self.oldest_writer {
            writeln!(
                f,
                "  held by pid {} ({}, {}) on database {}: {}",
                holder.pid,
                if holder.application_name.is_empty() {
                    "no application_name"
                } else {
                    &holder.application_name
                },
                holder.state,
                holder.database,
                holder.query
            )?;
        }
        Ok(())
    }
}
