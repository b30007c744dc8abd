//! Per-stream slots: within one process, commands on one stream take turns on an async lock
//! that also holds the stream's state, and their events are written in batches.
//!
//! A command decides on the kept state under the lock, applies its events to it and queues
//! them (`EventStore::enqueue`, driven only by [`crate::execute`]); then it lets the next command decide and waits for its
//! events to be written. One writer task per stream at a time writes everything queued as one
//! append at the stream's written version: the commands that queued while a write was in
//! flight go together in the next one. A hot stream (one SKU in a flash sale) thus takes one
//! write per batch instead of one per command, and each command is still answered only after
//! its events are durable. When a write fails (another process appended first, a dedup key the
//! log holds, the database), the kept state is dropped and every command decided on it is told
//! to decide again on a fresh one: nothing is written on top of an unwritten state.

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use cqrs_es::Aggregate;
use tokio::sync::oneshot;

use crate::{AppendError, EventMetadata, EventStore, Loaded, StoreError};

/// Streams whose slot a process keeps at most; beyond it, the least recently used half of the
/// idle slots is dropped (a hot SKU's slot stays, and with it its kept state: reloading a long
/// stream under its lock would stall every command on it).
const STREAM_SLOTS_MAX: usize = 10_000;

/// The lock of one stream and what it keeps.
pub(crate) type StreamSlot<A> = tokio::sync::Mutex<SlotState<A>>;

/// What a stream's slot keeps: the stream's state, and the commands decided on it whose events
/// are not written yet.
pub(crate) struct SlotState<A: Aggregate> {
    /// The stream's state, including the events of queued and in-flight commands; `None`:
    /// load it afresh.
    pub(crate) kept: Option<Loaded<A>>,
    /// The version of the stream known written (the next write's expected version).
    written: u64,
    queued: Vec<Queued<A>>,
    writing: bool,
}

impl<A: Aggregate> Default for SlotState<A> {
    fn default() -> Self {
        Self {
            kept: None,
            written: 0,
            queued: Vec::new(),
            writing: false,
        }
    }
}

impl<A: Aggregate> SlotState<A> {
    /// Whether every event of the kept state is written: no command waits for a write.
    pub(crate) fn settled(&self) -> bool {
        self.queued.is_empty() && !self.writing
    }

    /// Keeps `loaded`, read from the log (only while settled).
    pub(crate) fn keep(&mut self, loaded: Loaded<A>) {
        self.written = loaded.version;
        self.kept = Some(loaded);
    }

    /// Forgets the kept state (only while settled): the next command loads the stream.
    pub(crate) fn forget(&mut self) {
        self.kept = None;
    }
}

/// How a queued command's write ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Written {
    /// Its events are durable.
    Durable,
    /// The write failed (a race, the database): decide again on a fresh state.
    Failed,
    /// The stream's gene is fenced off this database (ADR 42): deciding again here cannot
    /// succeed; the command belongs on the shard of a newer map version.
    Moved {
        /// The stream's gene.
        gene: u16,
        /// The map version that moves the gene's writes.
        map_version: u64,
    },
}

/// A command's events waiting to be written, and who to tell.
struct Queued<A: Aggregate> {
    events: Vec<A::Event>,
    metadata: EventMetadata,
    written: oneshot::Sender<Written>,
}

type AnySlot = Arc<dyn Any + Send + Sync>;

#[derive(Default)]
pub(crate) struct Slots {
    slots: Mutex<SlotMap>,
}

/// The slots by stream, each with the tick of its last use.
#[derive(Default)]
struct SlotMap {
    by_stream: HashMap<(&'static str, String), (AnySlot, u64)>,
    tick: u64,
}

impl SlotMap {
    /// Drops the least recently used half of the slots nobody is using right now.
    fn evict(&mut self) {
        let mut idle: Vec<u64> = self
            .by_stream
            .values()
            .filter(|(slot, _)| Arc::strong_count(slot) == 1)
            .map(|&(_, used)| used)
            .collect();
        if idle.is_empty() {
            return;
        }
        let half = idle.len() / 2;
        let (_, &mut cutoff, _) = idle.select_nth_unstable(half);
        self.by_stream
            .retain(|_, (slot, used)| Arc::strong_count(slot) > 1 || *used >= cutoff);
    }
}

impl EventStore {
    /// The slot of `A`'s stream `aggregate_id` in this process.
    pub(crate) fn stream_slot<A>(&self, aggregate_id: &str) -> Arc<StreamSlot<A>>
    where
        A: Aggregate + 'static,
    {
        let mut slots = self
            .slots
            .slots
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        slots.tick += 1;
        let tick = slots.tick;
        let key = (A::TYPE, aggregate_id.to_owned());
        if let Some((slot, used)) = slots.by_stream.get_mut(&key) {
            if let Ok(slot) = Arc::clone(slot).downcast::<StreamSlot<A>>() {
                *used = tick;
                return slot;
            }
        }
        if slots.by_stream.len() >= STREAM_SLOTS_MAX {
            slots.evict();
        }
        let slot: Arc<StreamSlot<A>> = Arc::new(tokio::sync::Mutex::new(SlotState::default()));
        slots
            .by_stream
            .insert(key, (Arc::clone(&slot) as AnySlot, tick));
        slot
    }

    /// Queues a command's `events`, already applied to `state.kept`, to be written to `A`'s
    /// stream `aggregate_id` (whose slot is `slot`, locked as `state`). The answer is
    /// [`Written::Durable`] once they are durable; otherwise the kept state was dropped, and
    /// the command decides again on a fresh one ([`Written::Failed`]) or goes to another shard
    /// ([`Written::Moved`]).
    pub(crate) fn enqueue<A>(
        &self,
        slot: &Arc<StreamSlot<A>>,
        state: &mut SlotState<A>,
        aggregate_id: &str,
        events: Vec<A::Event>,
        metadata: EventMetadata,
    ) -> oneshot::Receiver<Written>
    where
        A: Aggregate + 'static,
    {
        let (written, answer) = oneshot::channel();
        state.queued.push(Queued {
            events,
            metadata,
            written,
        });
        if !state.writing {
            state.writing = true;
            // a task of its own: a caller that goes away cannot leave the stream half written
            tokio::spawn(write_queued(
                self.clone(),
                Arc::clone(slot),
                aggregate_id.to_owned(),
            ));
        }
        answer
    }

    /// Waits until every command queued on `state` so far is written (or failed); `state` is
    /// the locked `slot`, unlocked meanwhile.
    pub(crate) async fn settle<A>(
        &self,
        slot: &Arc<StreamSlot<A>>,
        mut state: tokio::sync::MutexGuard<'_, SlotState<A>>,
        aggregate_id: &str,
    ) where
        A: Aggregate + 'static,
    {
        if state.settled() {
            return;
        }
        let answer = self.enqueue(
            slot,
            &mut state,
            aggregate_id,
            Vec::new(),
            EventMetadata::default(),
        );
        drop(state);
        let _ = answer.await;
    }

    /// The current state of `A`'s stream, read through its slot: the kept state caught up from
    /// the log (or the stream loaded), and kept, so that the next command on the stream starts
    /// from it without reading the stream again.
    pub async fn current<A>(&self, aggregate_id: &str) -> Result<Loaded<A>, StoreError>
    where
        A: Aggregate + Clone + 'static,
    {
        let slot = self.stream_slot::<A>(aggregate_id);
        loop {
            let mut state = slot.lock().await;
            if !state.settled() {
                self.settle(&slot, state, aggregate_id).await;
                continue;
            }
            let loaded = match state.kept.take() {
                Some(mut loaded) => {
                    self.catch_up(aggregate_id, &mut loaded).await?;
                    loaded
                }
                None => self.load::<A>(aggregate_id).await?,
            };
            state.keep(loaded.clone());
            return Ok(loaded);
        }
    }

    /// The state to decide a new stream's first command on: [`current`](Self::current) when
    /// this process keeps the stream's state, else an empty state at version 0, kept without
    /// reading the log. A stream the process has never seen is presumed new (a fresh order
    /// id); the presumption is checked by the write, not by a read: events decided on it are
    /// written at version 0, so when the stream exists the write fails and the command decides
    /// again on the stream read from the log, and a refusal or a repeat is only answered on a
    /// state caught up with the log. A caller that answers from the returned state itself must
    /// do the same: a refusal at version 0 is checked against [`current`](Self::current).
    pub async fn current_or_new<A>(&self, aggregate_id: &str) -> Result<Loaded<A>, StoreError>
    where
        A: Aggregate + Clone + 'static,
    {
        let slot = self.stream_slot::<A>(aggregate_id);
        {
            let mut state = slot.lock().await;
            if state.settled() && state.kept.is_none() {
                let empty = Loaded {
                    aggregate: A::default(),
                    version: 0,
                };
                state.keep(empty.clone());
                return Ok(empty);
            }
        }
        self.current(aggregate_id).await
    }

    /// The state this process last kept for `A`'s stream, without reading the log; `None` when
    /// none is kept, or a command is working on it or waiting for its write. It may be behind
    /// the log: use it only for what never changes once written (an order's items once it is
    /// placed).
    pub fn kept<A>(&self, aggregate_id: &str) -> Option<Loaded<A>>
    where
        A: Aggregate + Clone + 'static,
    {
        let slot = self.stream_slot::<A>(aggregate_id);
        let state = slot.try_lock().ok()?;
        if !state.settled() {
            return None;
        }
        state.kept.clone()
    }

    /// Presumes `A`'s stream new, as [`current_or_new`](Self::current_or_new) does, without
    /// waiting: keeps an empty state at version 0 when this process keeps none and no command
    /// is on the stream, and answers whether it did. The first write checks the presumption.
    pub fn presume_new<A>(&self, aggregate_id: &str) -> bool
    where
        A: Aggregate + 'static,
    {
        let slot = self.stream_slot::<A>(aggregate_id);
        let Ok(mut state) = slot.try_lock() else {
            return false;
        };
        if !state.settled() || state.kept.is_some() {
            return false;
        }
        state.keep(Loaded {
            aggregate: A::default(),
            version: 0,
        });
        true
    }

    /// What `look` takes of the state this process keeps for `A`'s stream, with its version,
    /// without reading the log or cloning the state; `None` when none is kept or a command's
    /// write is pending. It takes its turn on the stream's lock (held briefly: a command
    /// decides under it, a refusal catches up with the log under it), so that a stream many
    /// commands look at is not reported busy whenever one of them holds it. It may be behind
    /// the log: check the version against the log before answering from it.
    pub async fn kept_with<A, R>(
        &self,
        aggregate_id: &str,
        look: impl FnOnce(&A) -> R,
    ) -> Option<(u64, R)>
    where
        A: Aggregate + 'static,
    {
        let slot = self.stream_slot::<A>(aggregate_id);
        let state = slot.lock().await;
        if !state.settled() {
            return None;
        }
        let kept = state.kept.as_ref()?;
        Some((kept.version, look(&kept.aggregate)))
    }
}

/// Writes what is queued on the slot, batch after batch, until nothing is left.
async fn write_queued<A>(store: EventStore, slot: Arc<StreamSlot<A>>, aggregate_id: String)
where
    A: Aggregate + 'static,
{
    loop {
        let (batch, written) = {
            let mut state = slot.lock().await;
            if state.queued.is_empty() {
                state.writing = false;
                return;
            }
            (std::mem::take(&mut state.queued), state.written)
        };
        let commands: Vec<(&[A::Event], &EventMetadata)> = batch
            .iter()
            .map(|queued| (queued.events.as_slice(), &queued.metadata))
            .collect();
        let appended = store
            .append_commands::<A>(&aggregate_id, written, &commands)
            .await;
        let mut state = slot.lock().await;
        match appended {
            Ok(appended) => {
                state.written = appended.version;
                for queued in batch {
                    let _ = queued.written.send(Written::Durable);
                }
            }
            Err(err) => {
                tracing::debug!(error = %err, stream = %aggregate_id, "a batch write failed; deciding again");
                // everything queued was decided on top of what failed
                state.kept = None;
                let outcome = match err {
                    AppendError::Store(StoreError::Moved { gene, map_version }) => {
                        Written::Moved { gene, map_version }
                    }
                    _ => Written::Failed,
                };
                for queued in batch.into_iter().chain(std::mem::take(&mut state.queued)) {
                    let _ = queued.written.send(outcome);
                }
                state.writing = false;
                return;
            }
        }
    }
}
