//! Moving genes between shards (ADR 42), the parts `orders reshard` is made of: the job row in
//! the catalog that says which step a move has reached ([`Jobs`]), the copier that follows the
//! source's log and appends the moving genes' events to the target ([`Copier`]), and the
//! comparison of the two logs' streams ([`compare`]).

use std::fmt;
use std::ops::RangeInclusive;
use std::str::FromStr;
use std::time::Duration;

use event_store::{Checkpoint, EventStore, StoreError as LogError};
use sqlx::{PgPool, Row};

use crate::map::{MapError, ShardName};

/// Rows of the source's log a copier reads per window.
pub const COPY_WINDOW_ROWS: usize = 5_000;

/// How long a copier waits when the source has nothing it may read yet.
const COPY_IDLE: Duration = Duration::from_millis(20);

/// The steps of a move, in order (DESIGN section 8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Step {
    /// Copy the genes' history to the target and keep copying new events.
    Copy,
    /// Compare every moved stream on the two shards.
    Reconcile,
    /// Publish the map that reads the genes from the target.
    SwitchReads,
    /// Fence the genes off the source, copy the rest, publish the map that writes them to
    /// the target.
    SwitchWrites,
    /// Moved; the source's copies are kept until `orders reshard --cleanup`.
    Done,
}

impl Step {
    /// Every step, in order.
    pub const ALL: [Step; 5] = [
        Step::Copy,
        Step::Reconcile,
        Step::SwitchReads,
        Step::SwitchWrites,
        Step::Done,
    ];

    /// The step's name, as stored and as the command line takes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Copy => "copy",
            Step::Reconcile => "reconcile",
            Step::SwitchReads => "switch-reads",
            Step::SwitchWrites => "switch-writes",
            Step::Done => "done",
        }
    }

    /// The step after this one (`Done` stays).
    pub fn next(self) -> Step {
        match self {
            Step::Copy => Step::Reconcile,
            Step::Reconcile => Step::SwitchReads,
            Step::SwitchReads => Step::SwitchWrites,
            Step::SwitchWrites | Step::Done => Step::Done,
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Step {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Step::ALL
            .into_iter()
            .find(|step| step.as_str() == text)
            .ok_or_else(|| {
                format!("unknown step {text:?}: one of copy, reconcile, switch-reads, switch-writes, done")
            })
    }
}

/// A move of genes from one shard to another, as its row in the catalog holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// Its id.
    pub id: i64,
    /// The genes it moves.
    pub genes: RangeInclusive<u16>,
    /// Where they were.
    pub source: ShardName,
    /// Where they go.
    pub target: ShardName,
    /// The step it has reached (done with the ones before).
    pub step: Step,
    /// Whether the source's copies were deleted (`orders reshard --cleanup`).
    pub cleaned: bool,
}

impl Job {
    /// The name of the copier's checkpoint, in the target.
    pub fn copier_name(&self) -> String {
        format!("reshard:{}", self.id)
    }
}

/// Why a job could not be read or changed.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The catalog failed.
    #[error("reshard jobs: {0}")]
    Database(#[from] sqlx::Error),
    /// Another move is running: one at a time.
    #[error(
        "move {} of genes {}-{} from {} to {} is at step {}: finish it first (run the same \
         command again to resume it)",
        .0.id, .0.genes.start(), .0.genes.end(), .0.source, .0.target, .0.step
    )]
    AnotherRunning(Box<Job>),
    /// Genes would move back to a shard that still holds the copies an earlier move left
    /// there: that move's cleanup would delete them from their home.
    #[error(
        "move {} took genes {}-{} from {} to {} and its copies are still on {}: run \
         `orders reshard --cleanup` first",
        .0.id, .0.genes.start(), .0.genes.end(), .0.source, .0.target, .0.source
    )]
    NotCleanedUp(Box<Job>),
    /// A row that is not a job (edited by hand).
    #[error("reshard job {id} is not valid: {cause}")]
    Corrupt {
        /// Its id.
        id: i64,
        /// What is wrong with it.
        cause: String,
    },
    /// The step was changed by someone else since it was read.
    #[error("reshard job {0} was changed by another process")]
    Raced(i64),
}

/// The moves' rows in the catalog (the default database).
#[derive(Debug, Clone)]
pub struct Jobs {
    pool: PgPool,
}

const JOB_COLUMNS: &str =
    "id, gene_from, gene_to, source, target, step, cleaned_at IS NOT NULL AS cleaned";

impl Jobs {
    /// The jobs stored in `pool`'s database.
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// The move that has not reached `done`, if any.
    pub async fn running(&self) -> Result<Option<Job>, JobError> {
        let row = sqlx::query(&format!(
            "SELECT {JOB_COLUMNS} FROM reshard_jobs WHERE step <> 'done'"
        ))
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(job_of).transpose()
    }

    /// Starts a move of `genes` from `source` to `target`, at its first step; refused while
    /// another is running, and while a finished move that took any of them away from
    /// `target` is not cleaned up.
    pub async fn start(
        &self,
        genes: &RangeInclusive<u16>,
        source: &ShardName,
        target: &ShardName,
    ) -> Result<Job, JobError> {
        let overlaps =
            |job: &Job| job.genes.start() <= genes.end() && genes.start() <= job.genes.end();
        let left = self.to_clean().await?.into_iter();
        if let Some(job) = left.filter(|job| job.source == *target).find(overlaps) {
            return Err(JobError::NotCleanedUp(Box::new(job)));
        }
        let inserted = sqlx::query(&format!(
            "INSERT INTO reshard_jobs (gene_from, gene_to, source, target) \
             VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING {JOB_COLUMNS}"
        ))
        .bind(i32::from(*genes.start()))
        .bind(i32::from(*genes.end()))
        .bind(source.as_str())
        .bind(target.as_str())
        .fetch_optional(&self.pool)
        .await?;
        match inserted {
            Some(row) => job_of(&row),
            None => match self.running().await? {
                Some(other) => Err(JobError::AnotherRunning(Box::new(other))),
                None => Err(JobError::Raced(0)),
            },
        }
    }

    /// Moves `job` on to its next step, if it is still at the step it was read at.
    pub async fn advance(&self, job: &mut Job) -> Result<(), JobError> {
        let next = job.step.next();
        let done = next == Step::Done;
        let updated = sqlx::query(
            "UPDATE reshard_jobs SET step = $3, updated_at = now(), \
                    finished_at = CASE WHEN $4 THEN now() END \
             WHERE id = $1 AND step = $2",
        )
        .bind(job.id)
        .bind(job.step.as_str())
        .bind(next.as_str())
        .bind(done)
        .execute(&self.pool)
        .await?
        .rows_affected();
        if updated != 1 {
            return Err(JobError::Raced(job.id));
        }
        job.step = next;
        Ok(())
    }

    /// The finished moves whose source still holds its copies, oldest first.
    pub async fn to_clean(&self) -> Result<Vec<Job>, JobError> {
        let rows = sqlx::query(&format!(
            "SELECT {JOB_COLUMNS} FROM reshard_jobs \
             WHERE step = 'done' AND cleaned_at IS NULL ORDER BY id"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(job_of).collect()
    }

    /// Every move whose source's copies are not cleaned up yet, running or done: while it
    /// is, both its shards keep its genes' sellers' rows (ADR 45).
    pub async fn uncleaned(&self) -> Result<Vec<Job>, JobError> {
        let rows = sqlx::query(&format!(
            "SELECT {JOB_COLUMNS} FROM reshard_jobs WHERE cleaned_at IS NULL ORDER BY id"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(job_of).collect()
    }

    /// Records that `job`'s source copies are gone.
    pub async fn cleaned(&self, job: &mut Job) -> Result<(), JobError> {
        sqlx::query("UPDATE reshard_jobs SET cleaned_at = now(), updated_at = now() WHERE id = $1")
            .bind(job.id)
            .execute(&self.pool)
            .await?;
        job.cleaned = true;
        Ok(())
    }
}

fn job_of(row: &sqlx::postgres::PgRow) -> Result<Job, JobError> {
    let id: i64 = row.try_get("id")?;
    let corrupt = |cause: String| JobError::Corrupt { id, cause };
    let gene = |column: &str| -> Result<u16, JobError> {
        let value: i32 = row.try_get(column)?;
        u16::try_from(value).map_err(|_| corrupt(format!("{column} {value}")))
    };
    let name = |column: &str| -> Result<ShardName, JobError> {
        let value: String = row.try_get(column)?;
        value
            .parse()
            .map_err(|err: MapError| corrupt(err.to_string()))
    };
    let step: String = row.try_get("step")?;
    Ok(Job {
        id,
        genes: gene("gene_from")?..=gene("gene_to")?,
        source: name("source")?,
        target: name("target")?,
        step: step.parse().map_err(corrupt)?,
        cleaned: row.try_get("cleaned")?,
    })
}

/// How far a copier got.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Copied {
    /// Events appended to the target (a copy the target held already is not counted).
    pub events: u64,
    /// Rows of the source's log read, of every gene.
    pub rows: u64,
    /// The copier's position in the source's log.
    pub at: Checkpoint,
    /// Where it was when this run of it began.
    pub from: Checkpoint,
}

/// Follows the source's log and appends the events of the moving genes to the target, with
/// its checkpoint in the target, saved with each window's copies.
#[derive(Debug, Clone)]
pub struct Copier {
    source: EventStore,
    source_name: String,
    target: EventStore,
    genes: RangeInclusive<u16>,
    name: String,
}

impl Copier {
    /// The copier of `job`, from `source` to `target` (their stores).
    pub fn new(job: &Job, source: EventStore, target: EventStore) -> Self {
        Self {
            source,
            source_name: job.source.to_string(),
            target,
            genes: job.genes.clone(),
            name: job.copier_name(),
        }
    }

    /// Where the copier is in the source's log (its checkpoint in the target).
    pub async fn position(&self) -> Result<Checkpoint, LogError> {
        self.target.load_checkpoint(&self.name).await
    }

    /// Copies until the copier has passed `until` in the source's log (every event before it
    /// is then in the target), telling `progress` after each window.
    pub async fn copy_to(
        &self,
        until: Checkpoint,
        progress: &mut (dyn FnMut(Copied) + Send),
    ) -> Result<Copied, LogError> {
        let from = self.position().await?;
        let mut copied = Copied {
            at: from,
            from,
            ..Copied::default()
        };
        while copied.at < until {
            let window = self
                .source
                .read_stored_after(copied.at, COPY_WINDOW_ROWS, &self.genes)
                .await?;
            let Some(end) = window.end else {
                // the horizon holds the next events back while an append runs
                tokio::time::sleep(COPY_IDLE).await;
                continue;
            };
            copied.events += self
                .target
                .append_copies(&self.source_name, &window.events, &self.name, end)
                .await?;
            copied.rows += u64::try_from(window.rows).unwrap_or(u64::MAX);
            copied.at = end;
            progress(copied);
        }
        Ok(copied)
    }

    /// The source's store.
    pub fn source(&self) -> &EventStore {
        &self.source
    }
}

/// What comparing the moved streams found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Comparison {
    /// Streams compared.
    pub streams: usize,
    /// Each stream that differs, and how.
    pub differences: Vec<String>,
}

/// Compares every stream of `genes` in `source`'s log up to `at` (in commit order) with the
/// same stream in `target`: the same head and the same events (sequence, type, version and
/// payload), the target's later events aside. A stream of the genes in the target that the
/// source lacks differs too.
pub async fn compare(
    source: &EventStore,
    target: &EventStore,
    genes: &RangeInclusive<u16>,
    at: Checkpoint,
) -> Result<Comparison, LogError> {
    let expected = source.stream_digests(genes, Some(at)).await?;
    let copied = target.prefix_digests(&expected).await?;
    let mut comparison = Comparison {
        streams: expected.len(),
        differences: Vec::new(),
    };
    for ((aggregate_type, id), want) in &expected {
        let key = (aggregate_type.clone(), id.clone());
        match copied.get(&key) {
            Some(got) if got == want => {}
            Some(got) => comparison.differences.push(format!(
                "{aggregate_type}/{id}: source head {} digest {}, target head {} digest {}",
                want.head, want.digest, got.head, got.digest
            )),
            None => comparison.differences.push(format!(
                "{aggregate_type}/{id}: source head {}, missing on the target",
                want.head
            )),
        }
    }
    let on_source = source.stream_digests(genes, None).await?;
    let on_target = target.stream_digests(genes, None).await?;
    for (aggregate_type, id) in on_target.keys() {
        if !on_source.contains_key(&(aggregate_type.clone(), id.clone())) {
            comparison
                .differences
                .push(format!("{aggregate_type}/{id}: on the target only"));
        }
    }
    Ok(comparison)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_read_back_and_follow_each_other() {
        for step in Step::ALL {
            assert_eq!(step.as_str().parse::<Step>(), Ok(step));
        }
        assert!("copying".parse::<Step>().is_err());
        let mut step = Step::Copy;
        let mut seen = vec![step];
        while step != Step::Done {
            step = step.next();
            seen.push(step);
        }
        assert_eq!(seen, Step::ALL);
    }
}
