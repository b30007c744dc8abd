//! Dead letters: events a follower of the log could not handle after its retries, parked with
//! their error so that the follower goes on. An operator lists them and asks for one to be run
//! again; the node running that follower does so (`crate::follower`).

use crate::{Checkpoint, DbRow, EventStore, RecordedEvent, StoreError};

const PARK: &str = include_str!("park.sql");
const LIST: &str = include_str!("list.sql");
const FIND: &str = include_str!("find.sql");
const REQUEST_RETRY: &str = include_str!("request_retry.sql");
const REMOVE: &str = include_str!("remove.sql");

/// A parked event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeadLetter {
    /// Its number, for `orders dead-letters retry`.
    pub id: i64,
    /// The follower that could not handle it.
    pub follower: String,
    /// Where the event is in the log.
    pub checkpoint: Checkpoint,
    /// Its stream's aggregate type.
    pub aggregate_type: String,
    /// Its stream's aggregate id.
    pub aggregate_id: String,
    /// Its sequence in the stream.
    pub sequence: u64,
    /// Its type.
    pub event_type: String,
    /// The last error handling it.
    pub error: String,
    /// How often it was tried.
    pub attempts: u64,
    /// When it was parked, in ms since the Unix epoch.
    pub parked_at_ms: i64,
    /// Whether an operator asked for it to be run again.
    pub retry_requested: bool,
}

impl DeadLetter {
    fn from_row(row: &DbRow) -> Result<Self, StoreError> {
        let unsigned = |column: &str| -> Result<u64, StoreError> {
            let value: i64 = row.try_get(column)?;
            u64::try_from(value).map_err(|_| StoreError::Corrupt(format!("dead letter {column}")))
        };
        Ok(Self {
            id: row.try_get("id")?,
            follower: row.try_get("follower")?,
            checkpoint: Checkpoint {
                txid: unsigned("txid")?,
                position: row.try_get("position")?,
            },
            aggregate_type: row.try_get("aggregate_type")?,
            aggregate_id: row.try_get("aggregate_id")?,
            sequence: unsigned("sequence")?,
            event_type: row.try_get("event_type")?,
            error: row.try_get("error")?,
            attempts: unsigned("attempts")?,
            parked_at_ms: row.try_get("parked_at_ms")?,
            retry_requested: row.try_get("retry_requested")?,
        })
    }
}

fn to_i64(value: u64, what: &str) -> Result<i64, StoreError> {
    i64::try_from(value).map_err(|_| StoreError::Corrupt(format!("{what} {value}")))
}

impl EventStore {
    /// Parks `event` for `follower` with the `error` of its last attempt, after `attempts`;
    /// parking it again (a retry that failed) updates the error and adds the attempts.
    pub async fn park(
        &self,
        follower: &str,
        event: &RecordedEvent,
        error: &str,
        attempts: u64,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let db = self.db();
        db.query(PARK)
            .bind(follower)
            .bind(to_i64(event.txid, "txid")?)
            .bind(event.position)
            .bind(event.aggregate_type.as_str())
            .bind(event.aggregate_id.as_str())
            .bind(to_i64(event.sequence, "sequence")?)
            .bind(event.event_type.as_str())
            .bind(error)
            .bind(to_i64(attempts, "attempts")?)
            .bind(now_ms)
            .execute(&db)
            .await?;
        Ok(())
    }

    /// The parked events, oldest first: of `follower`, or of every follower; only those asked
    /// to be run again when `retry_requested`.
    pub async fn dead_letters(
        &self,
        follower: Option<&str>,
        retry_requested: bool,
    ) -> Result<Vec<DeadLetter>, StoreError> {
        let db = self.db();
        db.query(LIST)
            .bind(follower)
            .bind(retry_requested)
            .fetch_all(&db)
            .await?
            .iter()
            .map(DeadLetter::from_row)
            .collect()
    }

    /// Parked event `id`, if there is one.
    pub async fn dead_letter(&self, id: i64) -> Result<Option<DeadLetter>, StoreError> {
        let db = self.db();
        db.query(FIND)
            .bind(id)
            .fetch_optional(&db)
            .await?
            .as_ref()
            .map(DeadLetter::from_row)
            .transpose()
    }

    /// Asks the follower of parked event `id` to run it again; `false` when there is none.
    pub async fn request_retry(&self, id: i64) -> Result<bool, StoreError> {
        self.run_on_dead_letter(REQUEST_RETRY, id).await
    }

    /// Removes parked event `id` (it was run again successfully).
    pub async fn remove_dead_letter(&self, id: i64) -> Result<bool, StoreError> {
        self.run_on_dead_letter(REMOVE, id).await
    }

    async fn run_on_dead_letter(&self, sql: &str, id: i64) -> Result<bool, StoreError> {
        let db = self.db();
        Ok(db.query(sql).bind(id).execute(&db).await? > 0)
    }

    /// The event a dead letter names, read from the log again.
    pub async fn parked_event(&self, letter: &DeadLetter) -> Result<RecordedEvent, StoreError> {
        let before = Checkpoint {
            txid: letter.checkpoint.txid,
            position: letter.checkpoint.position - 1,
        };
        self.read_after(before, 1)
            .await?
            .into_iter()
            .next()
            .filter(|event| event.position == letter.checkpoint.position)
            .ok_or_else(|| {
                StoreError::Corrupt(format!(
                    "dead letter {} names position {}, which the log does not hold",
                    letter.id, letter.checkpoint.position
                ))
            })
    }
}
