//! Executing a command against one aggregate: decide on the stream's kept state (loaded when
//! none is kept), check the caller's expected version, queue the events for the stream's next
//! batched write, and when that write loses a race (another process appended, a dedup key the
//! log already holds) decide again on a fresh load, a bounded number of times (ADR 6).
//!
//! cqrs-es's `CqrsFramework::execute` returns neither the events nor the version, which every
//! answer needs (ETag, read-your-writes, idempotent replies), so this is the command side's
//! one way into the log. The per-stream queue it drives (`slots`) is private to this crate.

use std::time::Duration;

use crate::slots::Written;
use crate::{EventMetadata, EventStore, StoreError};
use cqrs_es::Aggregate;

/// Attempts per command when other writers keep winning the race for the stream.
const CONFLICT_RETRIES_MAX: u32 = 64;
/// Longest pause between attempts (the pause grows with each attempt, with jitter).
const CONFLICT_BACKOFF_MAX_MS: u64 = 20;

/// The aggregate after a command (or what the caller took of it), and whether this call
/// appended anything.
#[derive(Debug)]
pub struct Executed<A> {
    /// State after the command (or after the first command with the same dedup key); with
    /// [`execute_with`], what its `answer` took of that state.
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
    /// The stream holds a command with this one's dedup key that came with another request
    /// ([`EventMetadata::request_digest`]): the key was used again for something else.
    #[error("the key {dedup_key} was used for another request")]
    KeyReused {
        /// The key.
        dedup_key: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Runs `decide` on the current state of `A`'s stream `id` and appends what it decides.
///
/// Within this process, commands on one stream take turns on the stream's slot, which keeps
/// the stream's state: a command decides on it without reading the log first, applies its
/// events, queues them to be written and lets the next command decide meanwhile; the stream's
/// queued commands are written together, at the stream's written version, and each command is
/// answered once its events are durable (`slots`). When the write fails
/// (another process appended first, the database), every command decided on the unwritten
/// state decides again on a fresh one. A decision that appends nothing (a refusal, a repeat)
/// is only given on a state that is written and caught up with the log, so it never rests on
/// a stale or unwritten state.
///
/// With `expected_version` (`If-Match`) a changed stream is a [`ExecuteError::VersionMismatch`]
/// and nothing is retried: the caller's premise is stale (unless the stream holds this
/// command's dedup key: a retry answers as the command did). When the stream already holds a
/// command with the dedup key in `metadata` (a retry), a decision to append answers with the
/// current state and appends nothing; a refusal is answered as one.
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
    execute_with(store, id, expected_version, metadata, decide, A::clone).await
}

/// [`execute`], answering with what `answer` takes of the state after the command instead of
/// a clone of it: for streams whose state is large (a hot SKU's reservations), cloned under
/// the stream's lock once per command otherwise.
pub async fn execute_with<A, F, R>(
    store: &EventStore,
    id: &str,
    expected_version: Option<u64>,
    metadata: &EventMetadata,
    decide: F,
    answer: impl Fn(&A) -> R,
) -> Result<Executed<R>, ExecuteError<A::Error>>
where
    A: Aggregate + Clone + 'static,
    A::Error: 'static,
    F: Fn(&A) -> Result<Vec<A::Event>, A::Error>,
{
    let slot = store.stream_slot::<A>(id);
    let mut attempt = 0;
    // the log holds a command with this one's dedup key: answer as it did
    let mut repeated = false;
    'attempt: loop {
        let mut state = slot.lock().await;
        let mut current = false;
        if state.kept.is_none() {
            // only while settled: a failed write drops the kept state and its queue together
            state.keep(store.load::<A>(id).await?);
            current = true;
        }
        let events = loop {
            let settled = state.settled();
            let Some(kept) = state.kept.as_mut() else {
                continue 'attempt;
            };
            let decision = match expected_version {
                Some(expected) if expected != kept.version => Decision::Mismatch,
                _ => match decide(&kept.aggregate) {
                    // what the log's command with this dedup key did is done: appending again
                    // could never succeed. A refusal still answers (another content under the
                    // same key is the domain's to refuse).
                    Ok(events) if events.is_empty() || repeated => Decision::Nothing,
                    Ok(events) => Decision::Append(events),
                    Err(err) => Decision::Refused(err),
                },
            };
            match decision {
                Decision::Append(events) => break events,
                // Nothing to append: answer only from a state that is written and current.
                _ if !settled => {
                    store.settle(&slot, state, id).await;
                    continue 'attempt;
                }
                _ if !current => {
                    if let Err(err) = store.catch_up(id, kept).await {
                        state.forget();
                        return Err(err.into());
                    }
                    current = true;
                }
                Decision::Mismatch => {
                    // a retry of a command that was executed (its premise moved by itself)
                    // answers as it did
                    if let Some(key) = &metadata.dedup_key {
                        if executed_before(store, A::TYPE, id, key, metadata).await? {
                            return Ok(Executed {
                                aggregate: answer(&kept.aggregate),
                                version: kept.version,
                                appended: 0,
                            });
                        }
                    }
                    return Err(ExecuteError::VersionMismatch {
                        current: kept.version,
                    });
                }
                Decision::Refused(err) => return Err(ExecuteError::Domain(err)),
                Decision::Nothing => {
                    return Ok(Executed {
                        aggregate: answer(&kept.aggregate),
                        version: kept.version,
                        appended: 0,
                    });
                }
            }
        };
        let Some(kept) = state.kept.as_mut() else {
            continue;
        };
        let count = events.len();
        for event in events.iter().cloned() {
            kept.aggregate.apply(event);
        }
        kept.version += count as u64;
        let executed = Executed {
            aggregate: answer(&kept.aggregate),
            version: kept.version,
            appended: count,
        };
        let written = store.enqueue(&slot, &mut state, id, events, metadata.clone());
        drop(state);
        match written.await.unwrap_or(Written::Failed) {
            Written::Durable => return Ok(executed),
            // another shard's to take: deciding again here would meet the fence again
            Written::Moved { gene, map_version } => {
                return Err(StoreError::Moved { gene, map_version }.into());
            }
            Written::Failed => {}
        }
        // the write failed: the state it was decided on is gone; decide again on a fresh one.
        // When the log holds this command's dedup key, it was executed before (a retry): a
        // decision to append again answers from the current state instead.
        if let Some(key) = &metadata.dedup_key {
            if executed_before(store, A::TYPE, id, key, metadata).await? {
                repeated = true;
                continue;
            }
        }
        attempt += 1;
        if attempt >= CONFLICT_RETRIES_MAX {
            return Err(ExecuteError::Contention);
        }
        if expected_version.is_none() {
            tokio::time::sleep(backoff(attempt)).await;
        }
    }
}

/// Whether the stream holds a command with `key`, the dedup key of this one (`metadata`): a
/// retry. One that came with another request digest than this one's is not a retry but a
/// reuse of the key, refused.
async fn executed_before<E: std::error::Error + 'static>(
    store: &EventStore,
    aggregate_type: &str,
    id: &str,
    key: &str,
    metadata: &EventMetadata,
) -> Result<bool, ExecuteError<E>> {
    let Some(original) = store.find_command(aggregate_type, id, key).await? else {
        return Ok(false);
    };
    let first = original
        .first()
        .and_then(|e| e.metadata.request_digest.as_deref());
    match (first, metadata.request_digest.as_deref()) {
        (Some(first), Some(this)) if first != this => Err(ExecuteError::KeyReused {
            dedup_key: key.to_owned(),
        }),
        _ => Ok(true),
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
