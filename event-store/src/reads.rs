//! The log as read: one command's events, a stream, the log after a checkpoint, how far a
//! reader is behind, the head, and subscriptions.

use crate::store::Backend;
use crate::subscription::Subscription;
use crate::{Checkpoint, EventStore, Pending, RecordedEvent, StoreError};

impl EventStore {
    /// The events that the command with `dedup_key` appended to the stream, if any.
    pub async fn find_command(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
        dedup_key: &str,
    ) -> Result<Option<Vec<RecordedEvent>>, StoreError> {
        let events = match &*self.backend {
            Backend::Postgres(b) => {
                b.find_command(aggregate_type, aggregate_id, dedup_key)
                    .await?
            }
            Backend::Sqlite(b) => {
                b.find_command(aggregate_type, aggregate_id, dedup_key)
                    .await?
            }
        };
        let events = self.upcast_read(events)?;
        Ok((!events.is_empty()).then_some(events))
    }

    /// Every event of one stream with its metadata, in sequence order.
    pub async fn read_stream(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let events = match &*self.backend {
            Backend::Postgres(b) => b.read_stream(aggregate_type, aggregate_id).await?,
            Backend::Sqlite(b) => b.read_stream(aggregate_type, aggregate_id).await?,
        };
        self.upcast_read(events)
    }

    /// Up to `limit` events after `after`, in commit order, without waiting. Only events whose
    /// order relative to every other event is settled are returned: an event is held back while
    /// a transaction that could still commit an event before it is running.
    pub async fn read_after(
        &self,
        after: Checkpoint,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let events = match &*self.backend {
            Backend::Postgres(b) => b.read_after(after, limit).await?,
            Backend::Sqlite(b) => b.read_after(after, limit).await?,
        };
        self.upcast_read(events)
    }

    /// How far a reader at `after` is behind: the committed events after it, counted up to
    /// `max`, and when the oldest of them was recorded; their payloads are not read. On
    /// PostgreSQL this includes the events that wait behind a running append (ADR 1), which
    /// [`EventStore::read_after`] does not return yet: a stall shows as lag.
    pub async fn pending(&self, after: Checkpoint, max: usize) -> Result<Pending, StoreError> {
        let max = i64::try_from(max).unwrap_or(i64::MAX);
        match &*self.backend {
            Backend::Postgres(b) => b.pending(after, max).await,
            Backend::Sqlite(b) => b.pending(after, max).await,
        }
    }

    /// The newest event a reader of the log may see now ([`Checkpoint::START`] for an empty
    /// log): every event at or before it has committed, and [`EventStore::read_after`] will
    /// return none that sorts before it that it has not returned already.
    pub async fn head(&self) -> Result<Checkpoint, StoreError> {
        let head = match &*self.backend {
            Backend::Postgres(b) => b.head().await?,
            Backend::Sqlite(b) => b.head().await?,
        };
        Ok(head.unwrap_or(Checkpoint::START))
    }

    /// The newest event committed now ([`Checkpoint::START`] for an empty log), whether or
    /// not a reader may see it yet: on PostgreSQL [`EventStore::head`] stops below a running
    /// append and below any transaction that ended while it looked (ADR 1), while every event
    /// committed before this call sorts at or before this one. A reader reaches it once the
    /// appends running now have ended: the point to copy or publish up to when everything
    /// committed so far must be covered.
    pub async fn last_committed(&self) -> Result<Checkpoint, StoreError> {
        let newest = match &*self.backend {
            Backend::Postgres(b) => b.last_committed().await?,
            // one writer at a time, no horizon: the head is the newest committed
            Backend::Sqlite(b) => b.head().await?,
        };
        Ok(newest.unwrap_or(Checkpoint::START))
    }

    /// A subscription to every event after `from`, in commit order, in batches of at most
    /// `batch_size` (capped at [`crate::SUBSCRIPTION_BATCH_SIZE_MAX`]).
    pub async fn subscribe(
        &self,
        from: Checkpoint,
        batch_size: usize,
    ) -> Result<Subscription, StoreError> {
        Ok(Subscription::new(self.clone(), from, batch_size))
    }
}
