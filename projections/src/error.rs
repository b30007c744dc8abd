//! What can go wrong on the read side.

use event_store::StoreError;

/// A failure to apply events to a read model or to read one.
#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    /// The database refused a statement.
    #[error("read-model database error")]
    Database(#[from] sqlx::Error),
    /// The event log could not be read.
    #[error("event store error")]
    Store(#[from] StoreError),
    /// An event or a stored document is not the JSON it should be.
    #[error("malformed JSON")]
    Json(#[from] serde_json::Error),
    /// Another runner of the same projection moved its checkpoint first: this batch was
    /// rolled back, and the runner resumes from the stored checkpoint.
    #[error("the checkpoint of projection {0} was moved by another runner")]
    CheckpointMoved(&'static str, #[source] event_store::follower::Superseded),
    /// A read model's rows do not fit the log (a gap in a stream's versions).
    #[error("read model is inconsistent with the log: {0}")]
    Corrupt(String),
}
