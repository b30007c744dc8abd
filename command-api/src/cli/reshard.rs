//! `orders reshard`: moves genes to another shard while the nodes serve, with the steps and
//! the copy's progress on stderr ([`command_api::reshard`]).

use std::collections::BTreeMap;
use std::ops::RangeInclusive;
use std::time::Duration;

use clap::Args;
use command_api::config::Overrides;
use command_api::reshard::{Progress as Told, Request, ReshardError, Resharder};
use event_store::EventStore;
use shards::{GENE_COUNT, Job, ShardName, Step};

use super::Common;
use super::progress::Progress;
use super::shards::open_every;
use super::store::{Failure, open};

/// `orders reshard`.
#[derive(Args)]
pub(crate) struct Reshard {
    #[command(flatten)]
    common: Common,
    /// The genes to move, `A-B` (both included) or one gene, within 0-1023: all on one shard.
    #[arg(long, value_name = "A-B", value_parser = parse_genes, required_unless_present = "cleanup")]
    genes: Option<RangeInclusive<u16>>,
    /// The shard they go to (configured with --shard NAME=URL).
    #[arg(long, value_name = "SHARD", required_unless_present = "cleanup")]
    to: Option<ShardName>,
    /// Stop before this step (copy, reconcile, switch-reads, switch-writes): to look at the
    /// copy before the reads switch, say. Running the same command again goes on.
    #[arg(long, value_name = "STEP", value_parser = parse_step)]
    until: Option<Step>,
    /// How long to wait for the target's views to apply the copies before switching reads.
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    views_wait_secs: u64,
    /// How long to wait, with the genes fenced, for the source's relay to publish what the
    /// source holds before switching writes (only when a relay follows the source's log);
    /// past it the fence is lifted and the writes stay on the source.
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    relay_wait_secs: u64,
    /// Delete the source's copies of every finished move instead, and rebuild its views
    /// without them.
    #[arg(long, conflicts_with_all = ["genes", "to", "until"])]
    cleanup: bool,
}

fn parse_genes(text: &str) -> Result<RangeInclusive<u16>, String> {
    let (from, to) = text.split_once('-').unwrap_or((text, text));
    let gene = |text: &str| {
        text.trim()
            .parse::<u16>()
            .ok()
            .filter(|gene| *gene < GENE_COUNT)
            .ok_or_else(|| format!("{text:?} is not a gene (0-{})", GENE_COUNT - 1))
    };
    let (from, to) = (gene(from)?, gene(to)?);
    if from > to {
        return Err(format!("{from}-{to}: the first gene is after the last"));
    }
    Ok(from..=to)
}

fn parse_step(text: &str) -> Result<Step, String> {
    text.parse()
}

impl Reshard {
    /// Exits 1 when the copy differs from the source, 2 when the move could not go on.
    pub(crate) async fn run(self, given: &Overrides) -> anyhow::Result<()> {
        let settings = self.common.settings(given).map_err(Failure::CouldNotRun)?;
        let default = open(&settings).await?;
        let catalog = default.postgres_pool().cloned().ok_or_else(|| {
            Failure::CouldNotRun(anyhow::anyhow!(
                "the embedded SQLite store is one shard: nothing to move"
            ))
        })?;
        let every = open_every(&settings, default).await?;
        let stores: BTreeMap<ShardName, EventStore> = every
            .router()
            .into_iter()
            .flat_map(|router| router.stores())
            .map(|(name, store)| (name.clone(), store.clone()))
            .collect();
        let resharder = Resharder::new(catalog, &stores, Duration::from_secs(self.views_wait_secs))
            .relay_wait(Duration::from_secs(self.relay_wait_secs));
        let mut shown = Shown::default();
        let result = if self.cleanup {
            resharder
                .cleanup(&mut |told| shown.tell(told))
                .await
                .map(|jobs| {
                    shown.finish(&format!("{} move(s) cleaned up", jobs.len()));
                })
        } else {
            let request = match (self.genes, self.to) {
                (Some(genes), Some(target)) => Some(Request { genes, target }),
                _ => None,
            };
            resharder
                .run(request.as_ref(), self.until, &mut |told| shown.tell(told))
                .await
                .map(|job| shown.finish(&summary(&job)))
        };
        match result {
            Ok(()) => Ok(()),
            Err(err @ ReshardError::Differences(_)) => Err(err.into()),
            Err(err) => Err(Failure::CouldNotRun(err.into()).into()),
        }
    }
}

fn summary(job: &Job) -> String {
    let genes = format!("genes {}-{}", job.genes.start(), job.genes.end());
    match job.step {
        Step::Done => format!(
            "move {} done: {genes} are read from and written to {}; {} keeps its copies \
             until `orders reshard --cleanup`",
            job.id, job.target, job.source
        ),
        step => format!(
            "move {} of {genes} from {} to {} stopped before {step}: run the command again to \
             go on",
            job.id, job.source, job.target
        ),
    }
}

/// The move's steps as lines and the copy as a progress bar, on stderr.
#[derive(Default)]
struct Shown {
    copy: Option<Progress>,
    /// The shard whose orders the sellers' copy is reading, while it does.
    sellers_from: Option<ShardName>,
}

impl Shown {
    fn tell(&mut self, told: Told) {
        match told {
            Told::Copied { copied, until } => {
                self.copy
                    .get_or_insert_with(|| Progress::new("copying", "positions"))
                    .update(
                        u64::try_from(copied.at.position - copied.from.position).unwrap_or(0),
                        u64::try_from(until.position - copied.from.position).ok(),
                    );
                return;
            }
            Told::Sellers { shard, rows } => {
                if self.sellers_from.as_ref() != Some(&shard) {
                    if let Some(copy) = self.copy.take() {
                        copy.finish("copied");
                    }
                    self.copy = Some(Progress::new(
                        format!("copying the sellers' orders from {shard}"),
                        "rows",
                    ));
                    self.sellers_from = Some(shard);
                }
                if let Some(copy) = &mut self.copy {
                    copy.update(rows, None);
                }
                return;
            }
            Told::Deleted(events) => {
                self.copy
                    .get_or_insert_with(|| Progress::new("deleting the source's copies", "events"))
                    .update(events, None);
                return;
            }
            _ => {}
        }
        if let Some(copy) = self.copy.take() {
            copy.finish("copied");
        }
        self.sellers_from = None;
        let line = match told {
            Told::Step(job) => format!(
                "move {} of genes {}-{} from {} to {}: {}",
                job.id,
                job.genes.start(),
                job.genes.end(),
                job.source,
                job.target,
                job.step
            ),
            Told::Cleaning(job) => format!(
                "cleaning up move {}: deleting {}'s copies of genes {}-{}",
                job.id,
                job.source,
                job.genes.start(),
                job.genes.end()
            ),
            Told::Backfilled(streams) => format!("genes stored for {streams} older stream(s)"),
            Told::Compared(comparison) => format!(
                "compared {} stream(s): {} difference(s)",
                comparison.streams,
                comparison.differences.len()
            ),
            Told::Views { at, head } => format!(
                "the target's views are at position {} of {}",
                at.position, head.position
            ),
            Told::Published { version, note } => format!("map version {version}: {note}"),
            Told::Fenced(version) => format!("fenced off the source for map version {version}"),
            Told::Relay { at, head } => format!(
                "the source's relay is at position {} of {}",
                at.position, head.position
            ),
            Told::Rebuilding(projection) => {
                format!("rebuilding the source's {} view", projection.name())
            }
            Told::SellersForgotten(rows) => {
                format!("deleted {rows} row(s) of the genes' sellers from the source's seller view")
            }
            Told::Copied { .. } | Told::Deleted(_) | Told::Sellers { .. } => return,
        };
        eprintln!("orders: {line}");
    }

    fn finish(mut self, line: &str) {
        if let Some(copy) = self.copy.take() {
            copy.finish("copied");
        }
        println!("{line}");
    }
}
