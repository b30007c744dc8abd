//! `orders shards`: the shard map in force and the databases it routes to. It reads only: the
//! map from the default database (which it does not migrate), each configured shard by a
//! connection it opens and closes. Also the other commands' way to every shard: [`open_every`],
//! and [`OnlyShard`] for those that work on each shard's database in turn.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use command_api::config::{Settings, redact_url};
use command_api::startup::open_migrated_shard;
use event_store::EventStore;
use serde::Serialize;
use shards::{MapStore, ShardName, ShardRouter, Stores};

use super::store::{Failure, open};

/// How long a shard has to accept a connection before it counts as unreachable.
const SHARD_CONNECT_TIMEOUT_MS: u64 = 2_000;

/// What `orders shards` found.
#[derive(Serialize)]
struct Report {
    /// The version in force.
    version: u64,
    /// When it was written (RFC 3339); none for the implied version 1.
    created_at: Option<String>,
    /// Why it was written.
    note: Option<String>,
    /// The map, as ranges of genes.
    ranges: Vec<Range>,
    /// `default` and every configured shard.
    shards: Vec<Shard>,
    /// The shards the map names that configuration does not.
    unconfigured: Vec<String>,
}

#[derive(Serialize)]
struct Range {
    gene_from: u16,
    gene_to: u16,
    read: String,
    write: String,
}

#[derive(Serialize)]
struct Shard {
    name: String,
    /// The URL with its password masked.
    url: String,
    /// Whether the map names it, for reads or writes.
    in_map: bool,
    /// Why it could not be reached; none when it was.
    unreachable: Option<String>,
}

/// Prints the map in force and the shards, as text or JSON. Exits 2 when the map names a
/// shard that is not configured (no node could route to it) or the default database cannot
/// be read, 1 when a configured shard is unreachable.
pub(crate) async fn shards(settings: &Settings, json: bool) -> anyhow::Result<()> {
    if settings.database_url.starts_with("sqlite:") {
        // a store that is not there (or not migrated) is said so, not described
        open(settings).await?;
        println!(
            "the embedded SQLite store ({}) is one shard, default, with no map",
            redact_url(&settings.database_url)
        );
        return Ok(());
    }
    let report = report(settings).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{report}");
    }
    if !report.unconfigured.is_empty() {
        return Err(Failure::CouldNotRun(anyhow::anyhow!(
            "the map names shard(s) {} that are not configured",
            report.unconfigured.join(", ")
        ))
        .into());
    }
    let unreachable: Vec<&str> = report
        .shards
        .iter()
        .filter(|s| s.unreachable.is_some())
        .map(|s| s.name.as_str())
        .collect();
    if !unreachable.is_empty() {
        anyhow::bail!("shard(s) {} unreachable", unreachable.join(", "));
    }
    Ok(())
}

/// The report on the PostgreSQL store `settings` name.
async fn report(settings: &Settings) -> anyhow::Result<Report> {
    let store = open(settings).await?;
    let pool = store
        .postgres_pool()
        .ok_or_else(|| Failure::CouldNotRun(anyhow::anyhow!("the store has no shard map")))?;
    let catalog = MapStore::new(pool.clone());
    let could_not_run = |err: shards::StoreError| Failure::CouldNotRun(err.into());
    let map = catalog.newest().await.map_err(could_not_run)?;
    let note = catalog.newest_note().await.map_err(could_not_run)?;
    let named = map.shards();
    let default = ShardName::default_shard();
    let mut shards = vec![Shard {
        in_map: named.contains(&default),
        name: default.to_string(),
        url: redact_url(&settings.database_url),
        unreachable: None,
    }];
    for (name, url) in settings.shards.iter() {
        shards.push(Shard {
            name: name.to_string(),
            url: redact_url(url),
            in_map: named.contains(name),
            unreachable: reach(url).await.err(),
        });
    }
    let configured: BTreeSet<&str> = shards.iter().map(|s| s.name.as_str()).collect();
    let unconfigured = named
        .iter()
        .map(|name| name.to_string())
        .filter(|name| !configured.contains(name.as_str()))
        .collect();
    let ranges = map
        .ranges()
        .into_iter()
        .map(|range| Range {
            gene_from: *range.genes.start(),
            gene_to: *range.genes.end(),
            read: range.assignment.read.to_string(),
            write: range.assignment.write.to_string(),
        })
        .collect();
    Ok(Report {
        version: map.version(),
        created_at: note.as_ref().map(|n| n.created_at.clone()),
        note: note.map(|n| n.note),
        ranges,
        shards,
        unconfigured,
    })
}

/// The stores of every shard `settings` configure beside `default`, routed by the map in
/// force now (read once: for a command's run, not a server's life); the one store without
/// shards. A shard that cannot be opened, or lacks a migration, is a command that could not
/// run.
pub(super) async fn open_every(settings: &Settings, default: EventStore) -> anyhow::Result<Stores> {
    if settings.shards.is_empty() {
        return Ok(Stores::one(default));
    }
    let could_not_run = |err: anyhow::Error| -> anyhow::Error { Failure::CouldNotRun(err).into() };
    let pool = default
        .postgres_pool()
        .cloned()
        .ok_or_else(|| could_not_run(anyhow::anyhow!("shards need PostgreSQL")))?;
    let map = MapStore::new(pool)
        .newest()
        .await
        .map_err(|err| could_not_run(err.into()))?;
    let mut stores = BTreeMap::from([(ShardName::default_shard(), default.clone())]);
    for (shard, url) in settings.shards.iter() {
        // as the default's: upcasting old events, quiet about slow statements, checked to be
        // migrated before any work starts on any shard
        let store = open_migrated_shard(settings, url).await.map_err(|err| {
            could_not_run(anyhow::Error::new(err).context(format!("shard {shard}")))
        })?;
        stores.insert(shard.clone(), store);
    }
    let (_, followed) = tokio::sync::watch::channel(Arc::new(map));
    Ok(Stores::sharded(default, ShardRouter::new(followed, stores)))
}

/// `--only-shard NAME`, for a command that works on each shard's database in turn.
#[derive(Args)]
pub(crate) struct OnlyShard {
    /// Only this shard: `default` (the database_url) or a name of the shards setting
    /// (default: every shard, one after the other; without shards, the one database).
    #[arg(long, value_name = "NAME")]
    only_shard: Option<ShardName>,
}

/// One shard a command works on: its name when shards are configured (for the output to say
/// which), and its store.
pub(super) struct OnShard {
    pub(super) shard: Option<ShardName>,
    pub(super) store: EventStore,
}

impl OnShard {
    /// ` on shard NAME` with shards, else nothing: what a line about this shard's work adds.
    pub(super) fn on(&self) -> String {
        self.shard
            .as_ref()
            .map_or_else(String::new, |shard| format!(" on shard {shard}"))
    }
}

impl OnlyShard {
    /// The shards to work on, in name order: the one `--only-shard` names, or every one (the
    /// one store without shards). A name that is not configured is a command that could not
    /// run, refused before any work.
    pub(super) fn pick(&self, stores: &Stores) -> anyhow::Result<Vec<OnShard>> {
        let every: Vec<OnShard> = match stores.router() {
            Some(router) => router
                .stores()
                .map(|(shard, store)| OnShard {
                    shard: Some(shard.clone()),
                    store: store.clone(),
                })
                .collect(),
            None => vec![OnShard {
                shard: None,
                store: stores.default_store().clone(),
            }],
        };
        let Some(only) = &self.only_shard else {
            return Ok(every);
        };
        let default = ShardName::default_shard();
        let named = |on: &OnShard| on.shard.as_ref().unwrap_or(&default) == only;
        if !every.iter().any(named) {
            let configured: Vec<String> = every
                .iter()
                .map(|on| on.shard.as_ref().unwrap_or(&default).to_string())
                .collect();
            return Err(Failure::CouldNotRun(anyhow::anyhow!(
                "no shard {only}: the shards configured are {} (--shard NAME=URL or \
                 ORDERS_SHARDS)",
                configured.join(", ")
            ))
            .into());
        }
        Ok(every.into_iter().filter(named).collect())
    }
}

/// Opens one connection to `url` and closes it; why not, when it cannot.
async fn reach(url: &str) -> Result<(), String> {
    let timeout = Duration::from_millis(SHARD_CONNECT_TIMEOUT_MS);
    match tokio::time::timeout(timeout, EventStore::connect_with_pool(url, 1)).await {
        Ok(Ok(store)) => {
            if let Some(pool) = store.postgres_pool() {
                pool.close().await;
            }
            Ok(())
        }
        // the database error's own text says the cause once; its sources repeat it
        Ok(Err(err)) => {
            Err(std::error::Error::source(&err)
                .map_or_else(|| err.to_string(), ToString::to_string))
        }
        Err(_) => Err(format!(
            "no connection within {SHARD_CONNECT_TIMEOUT_MS} ms"
        )),
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.created_at, &self.note) {
            (Some(at), Some(note)) => {
                writeln!(
                    f,
                    "shard map version {}, written {at}: {note}",
                    self.version
                )?;
            }
            _ => writeln!(
                f,
                "shard map version {} (never written: every gene on default)",
                self.version
            )?,
        }
        let names = self.shards.iter().map(|s| s.name.len());
        let width = names
            .chain(self.ranges.iter().map(|r| r.read.len()))
            .max()
            .unwrap_or(0);
        writeln!(f, "{:<11} {:<width$} write", "genes", "read")?;
        for r in &self.ranges {
            let genes = format!("{}-{}", r.gene_from, r.gene_to);
            writeln!(f, "{genes:<11} {:<width$} {}", r.read, r.write)?;
        }
        writeln!(f, "shards:")?;
        for s in &self.shards {
            let in_map = if s.in_map {
                "in the map"
            } else {
                "not in the map"
            };
            let reached = s.unreachable.as_ref().map_or_else(
                || "reachable".to_owned(),
                |why| format!("unreachable: {why}"),
            );
            writeln!(f, "{:<width$} {in_map:<14} {}  {reached}", s.name, s.url)?;
        }
        for name in &self.unconfigured {
            writeln!(
                f,
                "error: the map names shard {name}, which is not configured (--shard \
                 {name}=URL or ORDERS_SHARDS)"
            )?;
        }
        Ok(())
    }
}
