//! The subcommands that work on the store beside a running server: status, reconcile, replay,
//! archive and audit (the dead letters are in [`super::dead_letters`]). With shards, each
//! works on every shard's database, or on the one that holds what it is asked about. None of
//! them migrates (only `serve` and `migrate` do): each checks that the schema is complete and
//! stops naming the missing migration, so that a role without the right to change the schema
//! can run them.

use std::time::Duration;

use clap::Args;
use command_api::config::{Overrides, Settings};
use command_api::seller_places::RouterPlaces;
use command_api::startup::open_migrated_store;
use command_api::telemetry;
use cqrs_es::Aggregate;
use event_store::EventStore;
use projections::sellers::{SELLERS_NAME, SellerPlaces};
use shards::Stores;

use super::Common;
use super::progress::Progress;
use super::shards::{OnShard, OnlyShard, open_every};

/// How a command failed when its exit code says more than 1.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Failure {
    /// It could not do its work at all (exit code 2): as opposed to finding something wrong.
    /// Its message and causes are the error's own.
    #[error(transparent)]
    CouldNotRun(anyhow::Error),
}

/// The settings' logging and the store, migrated by someone else; a store that cannot be
/// opened, or lacks a migration, is a command that could not run.
pub(super) async fn open(settings: &Settings) -> anyhow::Result<EventStore> {
    telemetry::init(settings.log_format);
    open_migrated_store(settings)
        .await
        .map_err(|err| Failure::CouldNotRun(err.into()).into())
}

/// `orders status`.
pub(crate) async fn status(settings: &Settings, json: bool) -> anyhow::Result<()> {
    let stores = open_every(settings, open(settings).await?).await?;
    let status = command_api::status::status_of_every(&stores).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&status)?);
    } else {
        print!("{status}");
    }
    Ok(())
}

/// `orders reconcile`.
#[derive(Args)]
pub(crate) struct Reconcile {
    #[command(flatten)]
    common: Common,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// How long to wait for the views to reach the log's head before comparing at the
    /// position they have reached and reporting the lag.
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    wait_secs: u64,
    /// Apply the events the views lack instead of waiting for a server to (needs write
    /// access to the views; for a store that no server follows).
    #[arg(long)]
    catch_up: bool,
}

impl Reconcile {
    /// Exits 1 on differences; 2 when it could not compare, or not up to the head.
    pub(crate) async fn run(self, given: &Overrides) -> anyhow::Result<()> {
        let settings = self.common.settings(given).map_err(Failure::CouldNotRun)?;
        let store = open(&settings).await?;
        let stores = open_every(&settings, store.clone()).await?;
        let report = if let Some(router) = stores.router() {
            if self.catch_up {
                return Err(Failure::CouldNotRun(anyhow::anyhow!(
                    "--catch-up applies the events of one database; with shards, let each \
                     shard's projector catch up"
                ))
                .into());
            }
            let mut progress = Progress::new("reconciling every shard", "orders");
            let report = command_api::reshard::reconcile_every_shard(
                router,
                Duration::from_secs(self.wait_secs),
                &mut |p| progress.update(p.orders, Some(p.total)),
            )
            .await;
            progress.finish("reconcile read every order and SKU of every shard");
            report
        } else {
            let mut progress = Progress::new("reconciling", "orders");
            if self.catch_up {
                progress.step("applying the events the views lack");
            }
            let mut show =
                |p: projections::reconcile::Progress| progress.update(p.orders, Some(p.total));
            let report = if self.catch_up {
                projections::reconcile::reconcile_with_progress(&store, &mut show).await
            } else {
                projections::reconcile::reconcile_when_caught_up(
                    &store,
                    Duration::from_secs(self.wait_secs),
                    &mut show,
                )
                .await
            };
            progress.finish("reconcile read every order and SKU");
            report
        }
        .map_err(|err| Failure::CouldNotRun(err.into()))?;
        if self.json {
            println!("{}", serde_json::to_string_pretty(&report)?);
        } else {
            println!(
                "reconciled {} orders and {} SKUs at log position {} (head {}): {} difference(s)",
                report.orders_checked,
                report.skus_checked,
                report.position,
                report.head,
                report.differences.len()
            );
            for d in &report.differences {
                println!("{:<20} {:<14} {:<24} {}", d.kind, d.view, d.id, d.detail);
            }
            for shard in &report.shards {
                println!(
                    "shard {}: compared at log position {} (head {})",
                    shard.shard, shard.position, shard.head
                );
            }
            for lag in &report.lagging {
                let (shard, head) = match &lag.shard {
                    Some(name) => (
                        format!("shard {name}: "),
                        report
                            .shards
                            .iter()
                            .find(|s| &s.shard == name)
                            .map_or(report.head, |s| s.head),
                    ),
                    None => (String::new(), report.head),
                };
                println!(
                    "lagging: {shard}the {} projection reached position {} of {head} within {} s",
                    lag.projection, lag.position, self.wait_secs
                );
            }
        }
        if !report.is_clean() {
            anyhow::bail!("reconcile found {} difference(s)", report.differences.len());
        }
        if !report.lagging.is_empty() {
            return Err(Failure::CouldNotRun(anyhow::anyhow!(
                "the views did not reach the log's head (position {}) within {} s: compared \
                 up to position {} only; is a projector running? (--catch-up applies the \
                 events itself)",
                report.head,
                self.wait_secs,
                report.position
            ))
            .into());
        }
        Ok(())
    }
}

/// `orders replay`.
#[derive(Args)]
pub(crate) struct Replay {
    #[command(flatten)]
    common: Common,
    /// Only this projection: `orders` (order detail, with the buyer and seller lists),
    /// `stock`, or with shards `sellers` (each seller's orders on the seller's shard, copied
    /// again from every shard's order view; every projection includes it).
    #[arg(long, value_name = "NAME")]
    projection: Option<String>,
    #[command(flatten)]
    only: OnlyShard,
}

impl Replay {
    /// Each shard's projections in turn, each swapped in when rebuilt; a projection or shard
    /// that does not exist is refused before any is rebuilt.
    pub(crate) async fn run(self, given: &Overrides) -> anyhow::Result<()> {
        let settings = self.common.settings(given)?;
        let (projections, sellers) = match self.projection.as_deref() {
            None => (projections::Projection::ALL.to_vec(), true),
            Some(SELLERS_NAME) => (Vec::new(), true),
            Some(name) => (
                vec![projections::Projection::parse(name).ok_or_else(|| {
                    anyhow::anyhow!("no projection {name:?} (orders, stock, sellers)")
                })?],
                false,
            ),
        };
        let stores = open_every(&settings, open(&settings).await?).await?;
        if stores.router().is_none() && self.projection.as_deref() == Some(SELLERS_NAME) {
            return Err(Failure::CouldNotRun(anyhow::anyhow!(
                "the sellers view is kept with shards only: on one database a seller's list is \
                 the orders view's (replay orders)"
            ))
            .into());
        }
        let picked = self.only.pick(&stores)?;
        for on in &picked {
            for &projection in &projections {
                replay_one(on, projection).await?;
            }
        }
        if sellers {
            copy_sellers_again(&stores, &picked).await?;
        }
        Ok(())
    }
}

/// With shards, the seller views again (ADR 45): every hot order of the `picked` shards'
/// order views copied to its seller's places, then the rows of orders no order view holds
/// any more deleted from the picked shards' seller views. Nothing without shards.
async fn copy_sellers_again(stores: &Stores, picked: &[OnShard]) -> anyhow::Result<()> {
    let (Some(router), Some(places)) = (stores.router(), RouterPlaces::of(stores)) else {
        return Ok(());
    };
    let places = places.places().await?;
    for on in picked {
        let mut progress = Progress::new(format!("copying sellers' orders{}", on.on()), "orders");
        let read = projections::sellers::copy_sellers(&on.store, &places, &mut |read| {
            progress.update(read, None);
        })
        .await?;
        progress.finish(&format!(
            "{read} orders{} copied to their sellers' shards",
            on.on()
        ));
    }
    let every: Vec<_> = router.stores().map(|(_, store)| store.db()).collect();
    for on in picked {
        let mut progress = Progress::new(format!("sweeping sellers{}", on.on()), "rows deleted");
        let deleted = projections::sellers::sweep(&on.store.db(), &every, &mut |deleted| {
            progress.update(deleted, None);
        })
        .await?;
        progress.finish(&format!(
            "sellers{} rebuilt: {deleted} row(s) of orders no shard holds deleted",
            on.on()
        ));
    }
    Ok(())
}

/// Rebuilds `projection` on one shard, with its progress on stderr.
async fn replay_one(on: &OnShard, projection: projections::Projection) -> anyhow::Result<()> {
    let name = format!("{}{}", projection.name(), on.on());
    let mut progress = Progress::new(format!("replaying {name}"), "events");
    let replayed = projections::replay::replay(&on.store, projection, |p| {
        use projections::replay::Stage;
        match p.stage {
            Stage::Reading => progress.update(p.events, Some(p.total)),
            Stage::Indexing => progress.step("indexing the rebuilt tables"),
            Stage::Swapping => progress.step("swapping the rebuilt tables in"),
        }
    })
    .await?;
    progress.finish(&format!(
        "{name} rebuilt from {replayed} events and swapped in"
    ));
    Ok(())
}

/// `orders archive`.
#[derive(Args)]
pub(crate) struct Archive {
    #[command(flatten)]
    common: Common,
    /// Archive orders whose last change is more than this many days ago (default: the
    /// archive_after_days setting, 90).
    #[arg(long, value_name = "DAYS")]
    older_than_days: Option<u32>,
    /// Orders per batch (default: the archive_batch_size setting, 500).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=i64::from(projections::archive::ARCHIVE_BATCH_SIZE_MAX)))]
    batch_size: Option<u32>,
    /// Stop after this many batches (default: until none is left), on each shard.
    #[arg(long, value_name = "N")]
    max_batches: Option<u64>,
    #[command(flatten)]
    only: OnlyShard,
}

impl Archive {
    /// Each shard's settled orders in turn.
    pub(crate) async fn run(self, given: &Overrides) -> anyhow::Result<()> {
        let settings = self.common.settings(given)?;
        let stores = open_every(&settings, open(&settings).await?).await?;
        let days = self.older_than_days.unwrap_or(settings.archive_after_days);
        let batch_size = self.batch_size.unwrap_or(settings.archive_batch_size);
        // one clock reading for every shard's count and run: the total is what the run moves
        let now = chrono::Utc::now();
        for on in self.only.pick(&stores)? {
            let mut archiver = projections::Archiver::new(
                &on.store,
                chrono::TimeDelta::days(i64::from(days)),
                batch_size,
            )
            .with_clock(move || now);
            if stores.router().is_some() {
                archiver = archiver.with_seller_views(stores.db().clone());
            }
            self.archive(&on, &archiver).await?;
        }
        Ok(())
    }

    async fn archive(&self, on: &OnShard, archiver: &projections::Archiver) -> anyhow::Result<()> {
        let archivable = archiver.archivable().await?;
        eprintln!(
            "orders: {archivable} settled orders{} last changed before {} to archive",
            on.on(),
            archiver.cutoff().to_rfc3339()
        );
        let mut progress = Progress::new(format!("archiving{}", on.on()), "orders");
        let mut moved = 0;
        let run = archiver
            .run(self.max_batches, |batch| {
                moved += batch.moved;
                // an order that changed since the count leaves the run short of it, never past
                progress.update(moved, Some(archivable.max(moved)));
            })
            .await?;
        progress.finish(&format!("archive{}: {} batches", on.on(), run.batches));
        println!(
            "archived {} orders{} in {} batches ({} moved by every run so far)",
            run.moved,
            on.on(),
            run.batches,
            run.progress.orders
        );
        Ok(())
    }
}

/// `orders audit`: the order's log is the one of the shard its gene is read from.
pub(crate) async fn audit(
    settings: &Settings,
    order_id: &str,
    at: Option<chrono::DateTime<chrono::Utc>>,
) -> anyhow::Result<()> {
    let stores = open_every(settings, open(settings).await?).await?;
    let (store, log) = match stores.router() {
        None => (stores.default_store().clone(), "the log".to_owned()),
        Some(router) => {
            let route = router
                .reads_for(domain::Order::TYPE, order_id)
                .map_err(|err| Failure::CouldNotRun(err.into()))?;
            let log = format!(
                "the log of shard {}, where its gene {} is read from",
                route.shard, route.gene
            );
            (route.store, log)
        }
    };
    let at = at.unwrap_or_else(chrono::Utc::now);
    match projections::audit::audit(&store, order_id, at).await? {
        Some(audit) => println!("{}", serde_json::to_string_pretty(&audit)?),
        None => anyhow::bail!("no order {order_id} in {log}"),
    }
    Ok(())
}
