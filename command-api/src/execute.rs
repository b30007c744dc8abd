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
/// With `expected_version` (`If-Match`) a changed stream is a [`ExecuteError::VersionMismatch`]
/// and nothing is retried: the caller's premise is stale. Without it, a lost race reloads and
/// decides again. A dedup key in `metadata` that the stream already holds answers with the
/// current state and appends nothing.
pub async fn execute<A, F>(
    store: &EventStore,
    id: &str,
    expected_version: Option<u64>,
    metadata: &EventMetadata,
    decide: F,
) -> Result<Executed<A>, ExecuteError<A::Error>>
where
    A: Aggregate,
    A::Error: 'static,
    F: Fn(&A) -> Result<Vec<A::Event>, A::Error>,
{
    for attempt in 0..CONFLICT_RETRIES_MAX {
        let loaded = store.load::<A>(id).await?;
        if let Some(expected) = expected_version {
            if expected != loaded.version {
                return Err(ExecuteError::VersionMismatch {
                    current: loaded.version,
                });
            }
        }
        let events = decide(&loaded.aggregate).map_err(ExecuteError::Domain)?;
        if events.is_empty() {
            return Ok(Executed {
                aggregate: loaded.aggregate,
                version: loaded.version,
                appended: 0,
            });
        }
        match store
            .append::<A>(id, loaded.version, &events, metadata)
            .await
        {
            Ok(appended) => {
                let count = events.len();
                let mut aggregate = loaded.aggregate;
                for event in events {
                    aggregate.apply(event);
                }
                return Ok(Executed {
                    aggregate,
                    version: appended.version,
                    appended: count,
                });
            }
            Err(AppendError::Duplicate { .. }) => {
                let current = store.load::<A>(id).await?;
                return Ok(Executed {
                    aggregate: current.aggregate,
                    version: current.version,
                    appended: 0,
                });
            }
            Err(AppendError::Conflict { .. }) => {
                if expected_version.is_some() {
                    let current = store.load::<A>(id).await?;
                    return Err(ExecuteError::VersionMismatch {
                        current: current.version,
                    });
                }
                tokio::time::sleep(backoff(attempt)).await;
            }
            Err(AppendError::Store(err)) => return Err(err.into()),
        }
    }
    Err(ExecuteError::Contention)
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
