//! `orders reshard` (ADR 42): moves genes from the shard they are on to another while the
//! nodes serve, in the four steps of DESIGN section 8, each recorded in the move's job row in
//! the catalog before the next begins, so that a move interrupted anywhere resumes where it
//! stopped, with the same outcome:
//!
//! 1. **copy**: the copier follows the source's log and appends every event of the genes to
//!    the target (history first, then new events), its checkpoint in the target with each
//!    window; the source's rows of no gene get theirs first; then the orders of the genes'
//!    sellers are copied to the target's seller view from every shard's order view (ADR 45);
//! 2. **reconcile**: every stream of the genes, up to the source's head, has the same events
//!    on the target;
//! 3. **switch-reads**: once the target's views have applied the copies, the map version that
//!    reads the genes from the target is published;
//! 4. **switch-writes**: the genes are fenced off the source (a command that meets the fence
//!    waits for the next map), the copier takes what the source appended before the fence,
//!    the source's relay publishes it (ADR 43: a moved stream's events reach JetStream in
//!    their order), and the map version that writes the genes to the target is published.
//!
//! The source keeps its copies until [`Resharder::cleanup`] deletes them, rebuilds its views
//! without them and drops the genes' sellers from its seller view.

use std::collections::BTreeMap;
use std::ops::RangeInclusive;
use std::time::Duration;

use event_store::{Checkpoint, EventStore, StoreError};
use projections::sellers::Places;
use projections::{Projection, ProjectionError, ReadModels};
use shards::{
    Assignment, Comparison, Copied, Copier, Job, JobError, Jobs, MapError, MapStore, ShardMap,
    ShardName, Step,
};

mod reconcile;

pub use reconcile::reconcile_every_shard;

/// Streams given their gene per statement before the copy.
const BACKFILL_STREAMS: usize = 2_000;

/// Events deleted per statement by a cleanup.
const CLEANUP_EVENTS: usize = 10_000;

/// How often the target's views, or the source's relay, are looked at while waiting.
const VIEWS_POLL: Duration = Duration::from_millis(100);

/// How long a move waits, by default, for the source's relay before switching the writes.
pub const DEFAULT_RELAY_WAIT: Duration = Duration::from_secs(30);

/// A move asked for: these genes to that shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The genes to move.
    pub genes: RangeInclusive<u16>,
    /// The shard they go to.
    pub target: ShardName,
}

/// What a move is doing, told as it goes.
#[derive(Debug, Clone)]
pub enum Progress {
    /// The job starts (or resumes) a step.
    Step(Job),
    /// A cleanup starts on a finished move.
    Cleaning(Job),
    /// Streams of the source given their gene so far.
    Backfilled(u64),
    /// Rows of `shard`'s order view read so far to copy the orders of the moving genes'
    /// sellers to the target's seller view (ADR 45).
    Sellers {
        /// The shard whose order view is read.
        shard: ShardName,
        /// Rows read from it so far.
        rows: u64,
    },
    /// Rows of the moved genes' sellers deleted from the source's seller view by a cleanup.
    SellersForgotten(u64),
    /// Where the copier is, and the source's head it copies to.
    Copied {
        /// What it copied in this run so far.
        copied: Copied,
        /// Where it is going.
        until: Checkpoint,
    },
    /// The streams compared.
    Compared(Comparison),
    /// The target's views have reached `at` of `head` in its log.
    Views {
        /// Where they are.
        at: Checkpoint,
        /// Where they must get.
        head: Checkpoint,
    },
    /// A map version was published.
    Published {
        /// Its version.
        version: u64,
        /// Its note.
        note: String,
    },
    /// The genes were fenced off the source for the map version given.
    Fenced(u64),
    /// The source's relay has published its log up to `at` of `head`.
    Relay {
        /// Where it is.
        at: Checkpoint,
        /// Where it must get: the source's head after the fence.
        head: Checkpoint,
    },
    /// Events of the source's copies deleted so far by a cleanup.
    Deleted(u64),
    /// A cleanup rebuilds a view of the source.
    Rebuilding(Projection),
}

/// Why a move stopped.
#[derive(Debug, thiserror::Error)]
pub enum ReshardError {
    /// A log failed.
    #[error(transparent)]
    Log(#[from] StoreError),
    /// The jobs' table failed or refused.
    #[error(transparent)]
    Jobs(#[from] JobError),
    /// The map could not be read or written.
    #[error(transparent)]
    Map(#[from] shards::StoreError),
    /// The map cannot make the change.
    #[error(transparent)]
    MapChange(#[from] MapError),
    /// The views could not be read or rebuilt.
    #[error(transparent)]
    Views(#[from] ProjectionError),
    /// A shard with no database here.
    #[error("shard {0} is not configured here (--shard {0}=URL)")]
    UnknownShard(ShardName),
    /// The genes are not all on one shard, reads and writes.
    #[error(
        "genes {from}-{to} are not all read from and written to one shard (gene {gene} is \
         read from {read} and written to {write}): move ranges that are"
    )]
    NotOnOneShard {
        /// First gene of the range.
        from: u16,
        /// Last gene of the range.
        to: u16,
        /// The first gene that differs.
        gene: u16,
        /// Its read shard.
        read: ShardName,
        /// Its write shard.
        write: ShardName,
    },
    /// The genes are there already.
    #[error("genes {from}-{to} are on {target} already")]
    AlreadyThere {
        /// First gene.
        from: u16,
        /// Last gene.
        to: u16,
        /// Their shard.
        target: ShardName,
    },
    /// Nothing to resume and nothing asked for.
    #[error("no move is running: name the genes and the target (--genes A-B --to SHARD)")]
    NothingToResume,
    /// The copy differs from the source: the move stays at its reconcile step.
    #[error("{} of {} moved stream(s) differ on the target; first: {}",
        .0.differences.len(), .0.streams, .0.differences.first().map_or("", String::as_str))]
    Differences(Comparison),
    /// The target's views did not apply the copies in time: the reads stay on the source.
    #[error(
        "the target's views reached position {at} of {head} within {secs} s: is a projector \
         running on the target shard? (run again to resume)"
    )]
    ViewsBehind {
        /// Where they got.
        at: i64,
        /// The target's head.
        head: i64,
        /// How long it waited.
        secs: u64,
    },
    /// The source's relay did not publish what the source holds in time: the writes stay on
    /// the source, its fences lifted.
    #[error(
        "the source's relay reached position {at} of {head} within {secs} s: is a relay node \
         running? (the writes stay on the source; run again to resume)"
    )]
    RelayBehind {
        /// Where it got.
        at: i64,
        /// The source's head after the fence.
        head: i64,
        /// How long it waited.
        secs: u64,
    },
}

/// Moves genes between the shards of one deployment.
#[derive(Debug)]
pub struct Resharder<'a> {
    maps: MapStore,
    jobs: Jobs,
    shards: &'a BTreeMap<ShardName, EventStore>,
    views_wait: Duration,
    relay_wait: Duration,
}

impl<'a> Resharder<'a> {
    /// Moves among `shards` (the default's among them), with the map and the jobs on
    /// `catalog` (the default database), waiting at most `views_wait` for the target's views
    /// before switching the reads.
    pub fn new(
        catalog: sqlx::PgPool,
        shards: &'a BTreeMap<ShardName, EventStore>,
        views_wait: Duration,
    ) -> Self {
        Self {
            maps: MapStore::new(catalog.clone()),
            jobs: Jobs::new(catalog),
            shards,
            views_wait,
            relay_wait: DEFAULT_RELAY_WAIT,
        }
    }

    /// Waits at most `wait` for the source's relay to publish what the source holds before
    /// switching the writes ([`DEFAULT_RELAY_WAIT`] otherwise).
    #[must_use]
    pub fn relay_wait(mut self, wait: Duration) -> Self {
        self.relay_wait = wait;
        self
    }

    fn store(&self, shard: &ShardName) -> Result<&'a EventStore, ReshardError> {
        self.shards
            .get(shard)
            .ok_or_else(|| ReshardError::UnknownShard(shard.clone()))
    }

    /// Runs the move asked for, or resumes the one running (which must be the same when one
    /// is asked for), until it is done or, with `stop_before`, until it has reached that step
    /// (nothing is done when it is there or past it already).
    /// Returns the job as it stands.
    pub async fn run(
        &self,
        request: Option<&Request>,
        stop_before: Option<Step>,
        progress: &mut (dyn FnMut(Progress) + Send),
    ) -> Result<Job, ReshardError> {
        let mut job = self.job(request).await?;
        let source = self.store(&job.source)?;
        let target = self.store(&job.target)?;
        let copier = Copier::new(&job, source.clone(), target.clone());
        while job.step != Step::Done && stop_before.is_none_or(|stop| job.step < stop) {
            progress(Progress::Step(job.clone()));
            match job.step {
                Step::Copy => self.copy(&job, source, target, &copier, progress).await?,
                Step::Reconcile => reconcile(&job, source, target, &copier, progress).await?,
                Step::SwitchReads => self.switch_reads(&job, target, &copier, progress).await?,
                Step::SwitchWrites => self.switch_writes(&job, source, &copier, progress).await?,
                Step::Done => {}
            }
            self.jobs.advance(&mut job).await?;
        }
        if job.step == Step::Done {
            progress(Progress::Step(job.clone()));
        }
        Ok(job)
    }

    /// The running job, checked against `request`, or a new one for it.
    async fn job(&self, request: Option<&Request>) -> Result<Job, ReshardError> {
        if let Some(running) = self.jobs.running().await? {
            return match request {
                Some(asked) if asked.genes != running.genes || asked.target != running.target => {
                    Err(JobError::AnotherRunning(Box::new(running)).into())
                }
                _ => Ok(running),
            };
        }
        let request = request.ok_or(ReshardError::NothingToResume)?;
        let map = self.maps.newest().await?;
        let source = one_source(&map, &request.genes)?;
        if source == request.target {
            return Err(ReshardError::AlreadyThere {
                from: *request.genes.start(),
                to: *request.genes.end(),
                target: source,
            });
        }
        self.store(&source)?;
        self.store(&request.target)?;
        Ok(self
            .jobs
            .start(&request.genes, &source, &request.target)
            .await?)
    }

    async fn copy(
        &self,
        job: &Job,
        source: &EventStore,
        target: &EventStore,
        copier: &Copier,
        progress: &mut (dyn FnMut(Progress) + Send),
    ) -> Result<(), ReshardError> {
        // genes that moved away from the target once come back: its fences would refuse them
        target.lift_fences(&job.genes).await?;
        let mut backfilled = 0;
        loop {
            let streams = source.backfill_genes(BACKFILL_STREAMS).await?;
            if streams == 0 {
                break;
            }
            backfilled += streams;
            progress(Progress::Backfilled(backfilled));
        }
        catch_up(copier, progress).await?;
        // the sellers of the genes: every shard's orders of theirs, from the order views
        // (the job is recorded: from now on the `sellers` followers copy to the target too)
        let mut to = Places::new();
        to.keep(target.db(), |gene| job.genes.contains(&gene));
        for (shard, store) in self.shards {
            let mut told = |rows| {
                progress(Progress::Sellers {
                    shard: shard.clone(),
                    rows,
                });
            };
            projections::sellers::copy_sellers(store, &to, &mut told).await?;
        }
        Ok(())
    }

    async fn switch_reads(
        &self,
        job: &Job,
        target: &EventStore,
        copier: &Copier,
        progress: &mut (dyn FnMut(Progress) + Send),
    ) -> Result<(), ReshardError> {
        let map = self.maps.newest().await?;
        if switched(job, &map, |a| &a.read) {
            return Ok(());
        }
        catch_up(copier, progress).await?;
        // the copies are committed: the views wait for them all
        let head = target.last_committed().await?;
        let views = ReadModels::new(target);
        let reached = reach(
            head,
            self.views_wait,
            || async { Ok(Some(views.views_reached().await?)) },
            &mut |at| progress(Progress::Views { at, head }),
        )
        .await?;
        if let Err(at) = reached {
            return Err(ReshardError::ViewsBehind {
                at: at.position,
                head: head.position,
                secs: self.views_wait.as_secs(),
            });
        }
        self.publish(&note(job, "read from"), progress, |map| {
            map.with_reads_on(job.genes.clone(), &job.target)
        })
        .await
    }

    async fn switch_writes(
        &self,
        job: &Job,
        source: &EventStore,
        copier: &Copier,
        progress: &mut (dyn FnMut(Progress) + Send),
    ) -> Result<(), ReshardError> {
        let map = self.maps.newest().await?;
        if switched(job, &map, |a| &a.write) {
            return Ok(());
        }
        let version = map.version() + 1;
        source.fence_genes(&job.genes, version).await?;
        progress(Progress::Fenced(version));
        // every append of the genes on the source has ended: the newest committed event
        // covers them all
        let head = catch_up(copier, progress).await?.at;
        // the target's relay publishes the genes' next events once the writes are there
        if let Err(err) = self.relay_passes(source, head, progress).await {
            source.lift_fences(&job.genes).await?;
            return Err(err);
        }
        self.publish(&note(job, "written to"), progress, |map| {
            map.with_writes_on(job.genes.clone(), &job.target)
        })
        .await
    }

    /// Waits until the source's relay has published its log up to `head`; at once when no
    /// relay follows the source (it has no checkpoint).
    async fn relay_passes(
        &self,
        source: &EventStore,
        head: Checkpoint,
        progress: &mut (dyn FnMut(Progress) + Send),
    ) -> Result<(), ReshardError> {
        let reached = reach(
            head,
            self.relay_wait,
            || follower_at(source, relay::RELAY_NAME),
            &mut |at| progress(Progress::Relay { at, head }),
        )
        .await?;
        reached.map_err(|at| ReshardError::RelayBehind {
            at: at.position,
            head: head.position,
            secs: self.relay_wait.as_secs(),
        })
    }

    /// Publishes the next version of the newest map, made by `change`; read again and
    /// changed again when another writer published first.
    async fn publish(
        &self,
        note: &str,
        progress: &mut (dyn FnMut(Progress) + Send),
        change: impl Fn(&ShardMap) -> Result<ShardMap, MapError>,
    ) -> Result<(), ReshardError> {
        loop {
            let next = change(&self.maps.newest().await?)?;
            match self.maps.publish(&next, note).await {
                Ok(()) => {
                    progress(Progress::Published {
                        version: next.version(),
                        note: note.to_owned(),
                    });
                    return Ok(());
                }
                Err(shards::StoreError::Conflict { .. }) => {}
                Err(err) => return Err(err.into()),
            }
        }
    }

    /// Deletes the source's copies of every finished move not cleaned up yet, and rebuilds
    /// the source's views from what its log still holds. Returns the jobs cleaned.
    pub async fn cleanup(
        &self,
        progress: &mut (dyn FnMut(Progress) + Send),
    ) -> Result<Vec<Job>, ReshardError> {
        let mut cleaned = Vec::new();
        for mut job in self.jobs.to_clean().await? {
            progress(Progress::Cleaning(job.clone()));
            let source = self.store(&job.source)?;
            let mut deleted = 0;
            loop {
                let n = source.delete_genes(&job.genes, CLEANUP_EVENTS).await?;
                if n == 0 {
                    break;
                }
                deleted += n;
                progress(Progress::Deleted(deleted));
            }
            ReadModels::new(source)
                .forget_archived_genes(&job.genes)
                .await?;
            for projection in Projection::ALL {
                progress(Progress::Rebuilding(projection));
                projections::replay::replay(source, projection, |_| {}).await?;
            }
            self.jobs.cleaned(&mut job).await?;
            // once cleaned: the `sellers` followers no longer copy the genes' sellers here
            let forgotten = projections::sellers::forget_sellers(&source.db(), &job.genes).await?;
            progress(Progress::SellersForgotten(forgotten));
            cleaned.push(job);
        }
        Ok(cleaned)
    }
}

/// Whether `map` has every gene of `job` on its target, on the `side` (read or write) given.
fn switched(job: &Job, map: &ShardMap, side: impl Fn(&Assignment) -> &ShardName) -> bool {
    job.genes
        .clone()
        .all(|gene| *side(map.assignment(gene)) == job.target)
}

/// The note of the map version that switches `job`'s genes (`read from`, `written to`).
fn note(job: &Job, switch: &str) -> String {
    format!(
        "reshard {}: genes {}-{} {switch} {}",
        job.id,
        job.genes.start(),
        job.genes.end(),
        job.target
    )
}

/// The one shard `genes` are read from and written to.
fn one_source(map: &ShardMap, genes: &RangeInclusive<u16>) -> Result<ShardName, ReshardError> {
    let first = map.assignment(*genes.start());
    for gene in genes.clone() {
        let assignment = map.assignment(gene);
        if assignment.read != first.read || assignment.write != first.read {
            return Err(ReshardError::NotOnOneShard {
                from: *genes.start(),
                to: *genes.end(),
                gene,
                read: assignment.read.clone(),
                write: assignment.write.clone(),
            });
        }
    }
    Ok(first.read.clone())
}

/// Where the follower `name` of `store`'s log is (`None`: it has no checkpoint there).
async fn follower_at(store: &EventStore, name: &str) -> Result<Option<Checkpoint>, ReshardError> {
    let checkpoints = store.checkpoints().await?;
    Ok(checkpoints
        .into_iter()
        .find(|(follower, _)| follower == name)
        .map(|(_, at)| at))
}

/// Reads where a follower of a log is with `at` (`None`: there is none to wait for), tells
/// each reading, every [`VIEWS_POLL`] until it has reached `head`, for at most `wait`; the last
/// reading when it did not get there.
async fn reach<F, Fut>(
    head: Checkpoint,
    wait: Duration,
    mut at: F,
    told: &mut (dyn FnMut(Checkpoint) + Send),
) -> Result<Result<(), Checkpoint>, ReshardError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<Checkpoint>, ReshardError>>,
{
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let Some(reached) = at().await? else {
            return Ok(Ok(()));
        };
        told(reached);
        if reached >= head {
            return Ok(Ok(()));
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(Err(reached));
        }
        tokio::time::sleep(VIEWS_POLL).await;
    }
}

/// Copies up to the newest event the source has committed now.
async fn catch_up(
    copier: &Copier,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<Copied, ReshardError> {
    // not the head, which a transaction of the cluster ending while it looked can hold below
    // events already committed (ADR 1): copying up to it could leave the last ones behind
    let until = copier.source().last_committed().await?;
    Ok(copier
        .copy_to(until, &mut |copied| {
            progress(Progress::Copied { copied, until });
        })
        .await?)
}

async fn reconcile(
    job: &Job,
    source: &EventStore,
    target: &EventStore,
    copier: &Copier,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<(), ReshardError> {
    let at = catch_up(copier, progress).await?.at;
    let comparison = shards::compare(source, target, &job.genes, at).await?;
    progress(Progress::Compared(comparison.clone()));
    if comparison.differences.is_empty() {
        Ok(())
    } else {
        Err(ReshardError::Differences(comparison))
    }
}
