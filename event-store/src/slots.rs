//! Per-stream slots: within one process, commands on one stream take turns on an async lock
//! that also holds the stream's last known state. Racing writers of one process no longer
//! reload the stream and lose the version race to each other; the cached state is caught up
//! from the log ([`EventStore::catch_up`]) before every decision, so writers in other
//! processes are still seen, and the append's expected version still guards the stream.

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use cqrs_es::Aggregate;

use crate::{EventStore, Loaded, StoreError};

/// Streams whose slot a process keeps at most; idle slots beyond it are dropped.
const STREAM_SLOTS_MAX: usize = 10_000;

/// The lock of one stream, holding its cached state (`None`: load it afresh).
pub type StreamSlot<A> = tokio::sync::Mutex<Option<Loaded<A>>>;

type AnySlot = Arc<dyn Any + Send + Sync>;

#[derive(Default)]
pub(crate) struct Slots {
    slots: Mutex<HashMap<(&'static str, String), AnySlot>>,
}

impl EventStore {
    /// The slot of `A`'s stream `aggregate_id` in this process.
    pub fn stream_slot<A>(&self, aggregate_id: &str) -> Arc<StreamSlot<A>>
    where
        A: Aggregate + 'static,
    {
        let mut slots = self
            .slots
            .slots
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let key = (A::TYPE, aggregate_id.to_owned());
        if let Some(slot) = slots.get(&key) {
            if let Ok(slot) = Arc::clone(slot).downcast::<StreamSlot<A>>() {
                return slot;
            }
        }
        if slots.len() >= STREAM_SLOTS_MAX {
            // keep only slots someone is using right now
            slots.retain(|_, slot| Arc::strong_count(slot) > 1);
        }
        let slot: Arc<StreamSlot<A>> = Arc::new(tokio::sync::Mutex::new(None));
        slots.insert(key, Arc::clone(&slot) as AnySlot);
        slot
    }

    /// The current state of `A`'s stream, read through its slot: the kept state caught up from
    /// the log (or the stream loaded), and kept, so that the next command on the stream starts
    /// from it without reading the stream again.
    pub async fn current<A>(&self, aggregate_id: &str) -> Result<Loaded<A>, StoreError>
    where
        A: Aggregate + Clone + 'static,
    {
        let slot = self.stream_slot::<A>(aggregate_id);
        let mut kept = slot.lock().await;
        let loaded = match kept.take() {
            Some(mut loaded) => {
                self.catch_up(aggregate_id, &mut loaded).await?;
                loaded
            }
            None => self.load::<A>(aggregate_id).await?,
        };
        *kept = Some(loaded.clone());
        Ok(loaded)
    }

    /// The state this process last kept for `A`'s stream, without reading the log; `None` when
    /// none is kept or a command is working on it. It may be behind the log: use it only for
    /// what never changes once written (an order's items once it is placed).
    pub fn kept<A>(&self, aggregate_id: &str) -> Option<Loaded<A>>
    where
        A: Aggregate + Clone + 'static,
    {
        let slot = self.stream_slot::<A>(aggregate_id);
        let kept = slot.try_lock().ok()?;
        kept.clone()
    }
}
