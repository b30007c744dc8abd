//! Executing a command against one aggregate: load, check the caller's expected version,
//! decide, append at the loaded version, and on a lost race either answer with the first
//! result (a duplicate) or reload and decide again (a conflict), a bounded number of times.
//!
//! cqrs-es's `CqrsFramework::execute` returns neither the events nor the version, which every
//! answer here needs (ETag, read-your-writes, idempotent replies), so the command side drives
//! the event store directly.

use std::time::Duration;

use cqrs_es::Aggregate;
use event_store::{AppendError, EventMetadata, EventStore, StoreError};

/// Attempts per command when other writers keep winning the race for the stream.
const CONFLICT_RETRIES_MAX: u32 = 64;
/// Longest pause between attempts (the pause grows with each attempt, with jitter).
const CONFLICT_BACKOFF_MAX_MS: u64 = 20;

/// The aggregate after a command, and whether this call appended anything.
#[derive(Debug)]
pub struct Executed<A> {
    /// State after the command (or after the first command with the same dedup key).
    pub aggregate: A,
    /// Version of the stream: the ETag.
    pub version: u64,
    /// The events this call appended (empty for a duplicate or a command that changes nothing).
    pub appended: usize,
}

/// Why a command was not executed.
#[derive(Debug, thiserror::Error)]
pub enum ExecuteError<E: std::error::Error + 'static> {
    /// The aggregate refused the command.
    #[error(transparent)]
    Domain(E),
    /// The caller expected another version (`If-Match`).
    #[error("the stream is at version {current}")]
    VersionMismatch {
        /// The current version.
        current: u64,
    },
    /// Other writers won the race every time.
    #[error("too much contention on the stream")]
    Contention,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Runs `decide` on the current state of `A`'s stream `id` and appends what it decides.
///
/// Within this process, commands on one stream take turns on the stream's slot, which keeps
/// the stream's state, so no two of this process's commands race for the same version. A
/// command decides on the kept state without reading the log first: the append's expected
/// version is the check. When another process appended meanwhile, the append is a conflict,
/// and the command catches up from the log and decides again. A decision that appends nothing
/// (a refusal, a repeat) is only given after catching up, so it is never based on a stale state.
///
/// With `expected_version` (`If-Match`) a changed stream is a [`ExecuteError::VersionMismatch`]
/// and nothing is retried: the caller's premise is stale. Without it, a lost race catches up
/// and decides again. A dedup key in `metadata` that the stream already holds answers with the
/// current state and appends nothing.
pub async fn execute<A, F>(
    store: &EventStore,
    id: &str,
    expected_version: Option<u64>,
    metadata: &EventMetadata,
    decide: F,
) -> Result<Executed<A>, ExecuteError<A::Error>>
where
    A: Aggregate + Clone + 'static,
    A::Error: 'static,
    F: Fn(&A) -> Result<Vec<A::Event>, A::Error>,
{
    let slot = store.stream_slot::<A>(id);
    let mut cached = slot.lock().await;
    // Taken out while working: an error that returns early leaves the slot empty, so the
    // next command loads the stream afresh (an append whose outcome is unknown included).
    let (mut loaded, mut current) = match cached.take() {
        Some(loaded) => (loaded, false),
        None => (store.load::<A>(id).await?, true),
    };
    let mut attempt = 0;
    loop {
        let decision = match expected_version {
            Some(expected) if expected != loaded.version => Decision::Mismatch,
            _ => match decide(&loaded.aggregate) {
                Ok(events) if events.is_empty() => Decision::Nothing,
                Ok(events) => Decision::Append(events),
                Err(err) => Decision::Refused(err),
            },
        };
        let events = match decision {
            Decision::Append(events) => events,
            // Nothing to append: answer only from a state known to be current.
            _ if !current => {
                store.catch_up(id, &mut loaded).await?;
                current = true;
                continue;
            }
            Decision::Mismatch => {
                let current = loaded.version;
                *cached = Some(loaded);
                return Err(ExecuteError::VersionMismatch { current });
            }
            Decision::Refused(err) => {
                *cached = Some(loaded);
                return Err(ExecuteError::Domain(err));
            }
            Decision::Nothing => {
                let executed = Executed {
                    aggregate: loaded.aggregate.clone(),
                    version: loaded.version,
                    appended: 0,
                };
                *cached = Some(loaded);
                return Ok(executed);
            }
        };
        match store
            .append::<A>(id, loaded.version, &events, metadata)
            .await
        {
            Ok(appended) => {
                let count = events.len();
                for event in events {
                    loaded.aggregate.apply(event);
                }
                loaded.version = appended.version;
                let executed = Executed {
                    aggregate: loaded.aggregate.clone(),
                    version: loaded.version,
                    appended: count,
                };
                *cached = Some(loaded);
                return Ok(executed);
            }
            Err(AppendError::Duplicate { .. }) => {
                store.catch_up(id, &mut loaded).await?;
                let executed = Executed {
                    aggregate: loaded.aggregate.clone(),
                    version: loaded.version,
                    appended: 0,
                };
                *cached = Some(loaded);
                return Ok(executed);
            }
            Err(AppendError::Conflict { .. }) => {
                // another process appended first
                store.catch_up(id, &mut loaded).await?;
                current = true;
                if expected_version.is_none() {
                    tokio::time::sleep(backoff(attempt)).await;
                }
            }
            Err(AppendError::Store(err)) => return Err(err.into()),
        }
        attempt += 1;
        if attempt >= CONFLICT_RETRIES_MAX {
            *cached = Some(loaded);
            return Err(ExecuteError::Contention);
        }
    }
}

/// What a command decided on the state at hand.
enum Decision<E, Ev> {
    /// Append these events.
    Append(Vec<Ev>),
    /// Nothing changes (a repeat, or a command without effect).
    Nothing,
    /// The aggregate refused the command.
    Refused(E),
    /// The caller expected another version.
    Mismatch,
}

/// A growing pause with jitter, so racing writers spread out.
fn backoff(attempt: u32) -> Duration {
    let ceiling_us = (u64::from(attempt) + 1)
        .saturating_mul(500)
        .min(CONFLICT_BACKOFF_MAX_MS * 1_000);
    // jitter without a random generator: the clock's sub-millisecond part
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::from(d.subsec_nanos()))
        .unwrap_or(0);
    Duration::from_micros(nanos % ceiling_us.max(1))
}
