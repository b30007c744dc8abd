//! One reader of the log's head for all the subscriptions of a process.
//!
//! Each subscription (a projection, a reaction) follows the log from its own checkpoint, and
//! most of the time they all sit at its head. Read alone, every commit would be read once per
//! subscription. The tail keeps the last events read from the head in memory: a subscription
//! within them is served from memory, one at the head asks for the next read, and that read is
//! made once for all of them, at most every [`HEAD_READ_INTERVAL_MS`]. A subscription behind
//! the kept events (a projection being rebuilt, a reaction that was stopped) reads the log
//! itself, and stops at the first kept event, so that it joins the others without a gap.
//!
//! What is kept is a segment of the log: every event after one checkpoint up to another, in
//! commit order. A read only returns events whose order is settled (ADR 1), so a segment never
//! changes once read, and serving a subscription from it is the same as reading the log.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::{Checkpoint, EventStore, RecordedEvent, SUBSCRIPTION_BATCH_SIZE_MAX, StoreError};

/// Events the tail keeps at most (the oldest go first).
const TAIL_EVENTS_MAX: usize = 4_096;
/// Shortest time between two reads of the head: commits gather meanwhile, and however many
/// subscriptions ask, the head is read at most this often.
const HEAD_READ_INTERVAL_MS: u64 = crate::SUBSCRIPTION_LINGER_MS;

/// The kept segment, and the lock that makes one read of the head at a time.
#[derive(Default)]
pub(crate) struct Tail {
    segment: std::sync::Mutex<Segment>,
    /// Held while reading the head; holds when the last read of the head started.
    head_read: tokio::sync::Mutex<Option<Instant>>,
}

/// Every event after `from` up to `to`, when `span` is known.
#[derive(Default)]
struct Segment {
    span: Option<(Checkpoint, Checkpoint)>,
    /// Shared with the subscriptions it serves: each takes the same events, none copies them.
    events: VecDeque<Arc<RecordedEvent>>,
}

/// Where a reader at a checkpoint stands against the segment.
enum Place {
    /// Within it: these events come next.
    Within(Vec<Arc<RecordedEvent>>),
    /// Before it starts, at this checkpoint.
    Behind(Checkpoint),
    /// At its end, or nothing is kept that it could join: the head must be read.
    Head,
}

impl Segment {
    fn place(&self, after: Checkpoint, limit: usize) -> Place {
        match self.span {
            Some((from, _)) if after < from => Place::Behind(from),
            Some((_, to)) if after < to => {
                let next = self.events.partition_point(|e| e.checkpoint() <= after);
                Place::Within(self.events.range(next..).take(limit).cloned().collect())
            }
            _ => Place::Head,
        }
    }

    /// Adds what a read of the log after `after` returned: the continuation of the segment
    /// when `after` is its end (`true`), else the start of a new one (`false`).
    fn extend(&mut self, after: Checkpoint, read: &[Arc<RecordedEvent>]) -> bool {
        let (mut from, continued) = match self.span {
            Some((from, to)) if to == after => (from, true),
            _ => {
                self.events.clear();
                (after, false)
            }
        };
        self.events.extend(read.iter().cloned());
        while self.events.len() > TAIL_EVENTS_MAX {
            if let Some(dropped) = self.events.pop_front() {
                from = dropped.checkpoint();
            }
        }
        let to = read.last().map_or(after, |last| last.checkpoint());
        self.span = Some((from, to));
        continued
    }
}

impl EventStore {
    /// Up to `limit` events after `after`, as [`EventStore::read_after`] returns them, served
    /// from the tail when it holds them, read once for every subscription at the head.
    pub(crate) async fn read_after_shared(
        &self,
        after: Checkpoint,
        limit: usize,
    ) -> Result<Vec<Arc<RecordedEvent>>, StoreError> {
        loop {
            let place = self.kept_segment().place(after, limit);
            match place {
                Place::Within(events) => return Ok(events),
                Place::Behind(from) => return self.read_up_to(after, limit, from).await,
                Place::Head => {}
            }
            let mut last_read = self.tail.head_read.lock().await;
            // another subscription may have read the head while this one waited for the lock
            let place = self.kept_segment().place(after, limit);
            if !matches!(place, Place::Head) {
                continue;
            }
            if let Some(started) = *last_read {
                tokio::time::sleep_until(started + Duration::from_millis(HEAD_READ_INTERVAL_MS))
                    .await;
            }
            let started = Instant::now();
            *last_read = Some(started);
            let read = shared(self.read_after(after, SUBSCRIPTION_BATCH_SIZE_MAX).await?);
            let continued = self.kept_segment().extend(after, &read);
            let reached = read.len() < SUBSCRIPTION_BATCH_SIZE_MAX;
            self.fresh.head_read(started, continued, reached, &read);
            return Ok(read.into_iter().take(limit).collect());
        }
    }

    /// Reads the log after `after`, stopping at `from` (the start of the kept segment) when the
    /// read reaches it: the next call is served from memory.
    async fn read_up_to(
        &self,
        after: Checkpoint,
        limit: usize,
        from: Checkpoint,
    ) -> Result<Vec<Arc<RecordedEvent>>, StoreError> {
        let mut read = shared(self.read_after(after, limit).await?);
        let kept = read.partition_point(|e| e.checkpoint() <= from);
        if kept > 0 {
            read.truncate(kept);
        }
        Ok(read)
    }

    fn kept_segment(&self) -> std::sync::MutexGuard<'_, Segment> {
        self.tail
            .segment
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// What a read of the log returned, as the shared events the segment keeps and serves.
fn shared(read: Vec<RecordedEvent>) -> Vec<Arc<RecordedEvent>> {
    read.into_iter().map(Arc::new).collect()
}
