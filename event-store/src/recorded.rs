//! Events as read back from the log, and the checkpoint a reader resumes from.

use chrono::{DateTime, Utc};
use cqrs_es::DomainEvent;
use serde_json::value::RawValue;
use sqlx::types::Json;
use sqlx::{ColumnIndex, Decode, Row, Type};

use crate::metadata::Stored;
use crate::{EventMetadata, StoreError};

/// A reader's place in the log: everything at or before it has been read.
///
/// The log is read in `(txid, position)` order. On PostgreSQL `txid` is the writing
/// transaction's id; on SQLite, where one write transaction runs at a time and position order is
/// commit order, it is always 0. Persist both fields to resume exactly where a reader stopped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Checkpoint {
    /// Transaction id of the last event read (0 on SQLite).
    pub txid: u64,
    /// Global position of the last event read.
    pub position: i64,
}

impl Checkpoint {
    /// Before the first event.
    pub const START: Self = Self {
        txid: 0,
        position: 0,
    };
}

/// One stored event with everything the log knows about it.
#[derive(Clone, Debug)]
pub struct RecordedEvent {
    /// Global position (unique, allocated at insert time).
    pub position: i64,
    /// Id of the writing transaction (0 on SQLite).
    pub txid: u64,
    /// Aggregate type of the stream (`Order`, `Sku`, ...).
    pub aggregate_type: String,
    /// Aggregate id of the stream.
    pub aggregate_id: String,
    /// Sequence within the stream, from 1.
    pub sequence: u64,
    /// Stable event type string.
    pub event_type: String,
    /// Payload version (after upcasting).
    pub event_version: String,
    /// The payload as its stored JSON text, in cqrs-es's externally tagged form; decoded only by
    /// whoever needs it ([`RecordedEvent::decode`]): most readers skip most events.
    pub payload: Box<RawValue>,
    /// Metadata of the command that appended it.
    pub metadata: EventMetadata,
    /// The shard this event was copied from by a move of its gene (ADR 42), `None` for an
    /// event appended to this log: a copy's effects were the source's, so reactions and the
    /// relay pass it by, while projections apply it.
    pub copied_from: Option<String>,
    /// When it was recorded (the writing transaction's start on PostgreSQL).
    pub recorded_at: DateTime<Utc>,
}

impl RecordedEvent {
    /// The event of a row of the log's reads (`read_after.sql` and the like), on either
    /// backend, with its writing transaction's id `txid` (0 on SQLite).
    pub(crate) fn from_row<R>(row: &R, txid: u64) -> Result<Self, StoreError>
    where
        R: Row,
        for<'c> &'c str: ColumnIndex<R>,
        for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
        for<'r> Json<Stored>: Decode<'r, R::Database> + Type<R::Database>,
        for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
        for<'r> DateTime<Utc>: Decode<'r, R::Database> + Type<R::Database>,
    {
        let Json(Stored {
            metadata,
            copied_from,
        }) = row.try_get("metadata")?;
        let StreamEvent {
            aggregate_id,
            sequence,
            event_type,
            event_version,
            payload,
            recorded_at,
        } = StreamEvent::from_row(row)?;
        Ok(Self {
            position: row.try_get("position")?,
            txid,
            aggregate_type: row.try_get("aggregate_type")?,
            aggregate_id,
            sequence,
            event_type,
            event_version,
            // checked here: most readers skip most events, and decode none of them
            payload: RawValue::from_string(payload)?,
            metadata,
            copied_from,
            recorded_at,
        })
    }

    /// The checkpoint just after this event.
    pub fn checkpoint(&self) -> Checkpoint {
        Checkpoint {
            txid: self.txid,
            position: self.position,
        }
    }

    /// The payload as a domain event.
    pub fn decode<E: DomainEvent>(&self) -> Result<E, StoreError> {
        Ok(serde_json::from_str(self.payload.get())?)
    }
}

/// An event as a rebuild reads it ([`crate::EventStore::read_streams_pages`]): its place in its
/// stream, its time and its payload as the stored JSON text, decoded straight into the event
/// (parsed once: a rebuild decodes every event it reads).
#[derive(Clone, Debug)]
pub struct StreamEvent {
    /// Aggregate id of the stream.
    pub aggregate_id: String,
    /// Sequence within the stream, from 1.
    pub sequence: u64,
    /// Stable event type string.
    pub event_type: String,
    /// Payload version (after upcasting).
    pub event_version: String,
    /// The payload's JSON text, in cqrs-es's externally tagged form (unchecked until
    /// decoded).
    pub payload: String,
    /// When it was recorded (the writing transaction's start on PostgreSQL).
    pub recorded_at: DateTime<Utc>,
}

impl StreamEvent {
    /// The event of a row of any read of the log, on either backend (its payload read as
    /// text).
    pub(crate) fn from_row<R>(row: &R) -> Result<Self, StoreError>
    where
        R: Row,
        for<'c> &'c str: ColumnIndex<R>,
        for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
        for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
        for<'r> DateTime<Utc>: Decode<'r, R::Database> + Type<R::Database>,
    {
        Ok(Self {
            aggregate_id: row.try_get("aggregate_id")?,
            sequence: unsigned(row, "sequence")?,
            event_type: row.try_get("event_type")?,
            event_version: row.try_get("event_version")?,
            payload: row.try_get("payload")?,
            recorded_at: row.try_get("recorded_at")?,
        })
    }

    /// The payload as a domain event.
    pub fn decode<E: DomainEvent>(&self) -> Result<E, StoreError> {
        Ok(serde_json::from_str(&self.payload)?)
    }
}

/// How far a reader of the log is behind ([`crate::EventStore::pending`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pending {
    /// Events ready to read, counted up to the maximum asked for.
    pub events: u64,
    /// When the oldest of them was recorded; `None` when there are none.
    pub oldest: Option<DateTime<Utc>>,
}

impl Pending {
    /// A row of `pending.sql`, on either backend.
    pub(crate) fn from_row<R>(row: &R) -> Result<Self, StoreError>
    where
        R: Row,
        for<'c> &'c str: ColumnIndex<R>,
        for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
        for<'r> Option<DateTime<Utc>>: Decode<'r, R::Database> + Type<R::Database>,
    {
        Ok(Self {
            events: unsigned(row, "pending")?,
            oldest: row.try_get("oldest")?,
        })
    }
}

/// A column that holds a count or a sequence number (stored signed).
fn unsigned<R>(row: &R, column: &str) -> Result<u64, StoreError>
where
    R: Row,
    for<'c> &'c str: ColumnIndex<R>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
{
    let value: i64 = row.try_get(column)?;
    u64::try_from(value).map_err(|_| StoreError::Corrupt(format!("{column} {value}")))
}
