//! States of streams a command only checks, kept in memory and vouched for by the tail
//! (ADR 16).
//!
//! A placement checks each product's version but changes no product: reading every product
//! on every placement costs a round trip and a statement for a state that rarely changes. The
//! tail reads the log's head for every subscription of the process anyway, so it sees every
//! event appended to a product, by this process or another. A state read from the log is kept,
//! and served again while:
//! - the tail has read up to the head within the store's staleness bound;
//! - the tail's reads have had no gap since the state was read (a new segment starts a new
//!   epoch, which drops every kept state);
//! - no event of the stream past the kept version has been seen, at the head or written by
//!   this process.
//!
//! Otherwise the stream is read from the log, and kept again. A served state thus lacks at
//! most what the log committed since the tail last read the head, and an event written by
//! this process is never missed. The kept streams are bounded; beyond the bound, everything
//! kept is dropped and the tracking starts over.

use std::any::Any;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use cqrs_es::Aggregate;
use tokio::time::Instant;

use crate::{EventStore, Loaded, RecordedEvent, StoreError};

/// How far behind the log's head a served state may be, by default.
pub(crate) const STALENESS_BOUND_MS: u64 = 100;
/// Streams tracked at most (seen or kept); beyond it, tracking starts over.
const FRESH_STREAMS_MAX: usize = 16_384;

type Key = (&'static str, String);

/// The kept states and what the tail has seen of their streams.
pub(crate) struct Fresh {
    bound: Duration,
    map: Mutex<FreshMap>,
}

impl Default for Fresh {
    fn default() -> Self {
        Self::new(Duration::from_millis(STALENESS_BOUND_MS))
    }
}

#[derive(Default)]
struct FreshMap {
    /// Bumped whenever the tail's reads stop being contiguous: what was seen before is no
    /// longer all there is.
    epoch: u64,
    /// When the last read of the head that reached it (a read short of its limit) started.
    head_read_at: Option<Instant>,
    /// The aggregate types whose streams are tracked.
    watched: HashSet<&'static str>,
    /// The latest sequence seen per tracked stream during this epoch.
    seen: HashMap<Key, u64>,
    /// The kept states (`Loaded<A>` of the key's type), with their version and the epoch they
    /// were read in.
    kept: HashMap<Key, (Arc<dyn Any + Send + Sync>, u64, u64)>,
    /// Stream versions read from the log during this epoch (the states themselves not kept).
    versions: HashMap<Key, u64>,
}

impl FreshMap {
    fn start_over(&mut self) {
        self.epoch += 1;
        self.seen.clear();
        self.kept.clear();
        self.versions.clear();
    }

    fn see(&mut self, key: Key, sequence: u64) {
        let seen = self.seen.entry(key).or_insert(0);
        *seen = (*seen).max(sequence);
    }

    /// The kept state of `key` at `epoch`, unless an event past it has been seen.
    fn vouched<A: Aggregate + Clone + 'static>(&self, key: &Key) -> Option<Loaded<A>> {
        let (state, version, epoch) = self.kept.get(key)?;
        let moved_on = self.seen.get(key).is_some_and(|seen| seen > version);
        if *epoch != self.epoch || moved_on {
            return None;
        }
        state.downcast_ref::<Loaded<A>>().cloned()
    }
}

impl Fresh {
    pub(crate) fn new(bound: Duration) -> Self {
        Self {
            bound,
            map: Mutex::default(),
        }
    }

    pub(crate) fn bound(&self) -> Duration {
        self.bound
    }

    fn map(&self) -> MutexGuard<'_, FreshMap> {
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes in a read of the head that started at `started`; `continued`: it carried on
    /// from where the tail's last read ended. `reached`: it returned everything up to the
    /// head (less than its limit).
    pub(crate) fn head_read(
        &self,
        started: Instant,
        continued: bool,
        reached: bool,
        read: &[Arc<RecordedEvent>],
    ) {
        let mut map = self.map();
        if !continued {
            map.start_over();
        }
        for event in read {
            if let Some(&kind) = map.watched.get(event.aggregate_type.as_str()) {
                map.see((kind, event.aggregate_id.clone()), event.sequence);
            }
        }
        if map.seen.len() > FRESH_STREAMS_MAX {
            map.start_over();
        }
        if reached {
            map.head_read_at = Some(started);
        }
    }

    /// Takes in that this process wrote `kind`'s stream `id` up to `version`.
    pub(crate) fn written(&self, kind: &'static str, id: &str, version: u64) {
        let mut map = self.map();
        if map.watched.contains(kind) {
            map.see((kind, id.to_owned()), version);
        }
    }
}

impl EventStore {
    /// The states of `A`'s streams `aggregate_ids` that exist, as [`load_many`] reads them,
    /// but each possibly older than the log by what it committed within the store's staleness
    /// bound (ADR 16): served from memory while the tail vouches for them, else read. Only
    /// for checking a state, never for deciding on it; a check that fails should be made
    /// again on [`load_many`].
    ///
    /// [`load_many`]: EventStore::load_many
    pub async fn load_many_fresh<A>(
        &self,
        aggregate_ids: &[&str],
    ) -> Result<HashMap<String, Loaded<A>>, StoreError>
    where
        A: Aggregate + Clone + 'static,
    {
        let mut states = HashMap::with_capacity(aggregate_ids.len());
        let mut missing = Vec::new();
        let epoch = {
            let mut map = self.fresh.map();
            map.watched.insert(A::TYPE);
            let recent = map
                .head_read_at
                .is_some_and(|read| read.elapsed() <= self.fresh.bound);
            for &id in aggregate_ids {
                let kept = recent
                    .then(|| map.vouched::<A>(&(A::TYPE, id.to_owned())))
                    .flatten();
                match kept {
                    Some(state) => {
                        states.insert(id.to_owned(), state);
                    }
                    None => missing.push(id),
                }
            }
            map.epoch
        };
        if missing.is_empty() {
            return Ok(states);
        }
        let read = self.load_many::<A>(&missing).await?;
        {
            let mut map = self.fresh.map();
            if map.epoch == epoch {
                if map.kept.len() + read.len() > FRESH_STREAMS_MAX {
                    map.kept.clear();
                }
                for (id, state) in &read {
                    let key = (A::TYPE, id.clone());
                    // a racing read may have kept a later version
                    if map
                        .kept
                        .get(&key)
                        .is_some_and(|kept| kept.1 > state.version)
                    {
                        continue;
                    }
                    let kept: Arc<dyn Any + Send + Sync> = Arc::new(state.clone());
                    map.kept.insert(key, (kept, state.version, epoch));
                }
            }
        }
        states.extend(read);
        Ok(states)
    }

    /// The version of each of `A`'s streams `aggregate_ids`, as [`stream_versions`] reads
    /// them, but possibly older than the log by what it committed within the store's
    /// staleness bound (ADR 16): a version read once is served from memory, moved on by every
    /// event of the stream the tail sees or this process writes, while the tail vouches for
    /// it; else read. Only for checking that a kept state is current, as
    /// [`load_many_fresh`](Self::load_many_fresh).
    ///
    /// [`stream_versions`]: EventStore::stream_versions
    pub async fn stream_versions_fresh<A>(
        &self,
        aggregate_ids: &[&str],
    ) -> Result<HashMap<String, u64>, StoreError>
    where
        A: Aggregate,
    {
        let mut versions = HashMap::with_capacity(aggregate_ids.len());
        let mut missing = Vec::new();
        let epoch = {
            let mut map = self.fresh.map();
            map.watched.insert(A::TYPE);
            let recent = map
                .head_read_at
                .is_some_and(|read| read.elapsed() <= self.fresh.bound);
            for &id in aggregate_ids {
                let key = (A::TYPE, id.to_owned());
                match recent.then(|| map.versions.get(&key)).flatten() {
                    Some(&read) => {
                        let seen = map.seen.get(&key).copied().unwrap_or(0);
                        versions.insert(id.to_owned(), read.max(seen));
                    }
                    None => missing.push(id),
                }
            }
            map.epoch
        };
        if missing.is_empty() {
            return Ok(versions);
        }
        let read = self.stream_versions::<A>(&missing).await?;
        {
            let mut map = self.fresh.map();
            if map.epoch == epoch {
                if map.versions.len() + read.len() > FRESH_STREAMS_MAX {
                    map.versions.clear();
                }
                for (id, &version) in &read {
                    let kept = map.versions.entry((A::TYPE, id.clone())).or_insert(0);
                    *kept = (*kept).max(version);
                }
            }
        }
        versions.extend(read);
        Ok(versions)
    }
}
