//! Event metadata: who did what, on whose behalf, and the key that makes it happen once.

use std::collections::HashMap;

use serde_json::{Map, Value};

const DEDUP_KEY: &str = "dedup_key";
const ACTOR: &str = "actor";
const CORRELATION_ID: &str = "correlation_id";
const CAUSATION_ID: &str = "causation_id";
const REQUEST_ID: &str = "request_id";
/// Position of an event within the events of its command (0, 1, ...). Stored so that the
/// unique dedup index can tell a command's first event from the rest.
pub(crate) const COMMAND_INDEX: &str = "command_index";

/// Metadata stored with every event of a command.
///
/// All of a command's events share it. Values are strings, as cqrs-es's
/// `EventEnvelope::metadata` is a `HashMap<String, String>`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EventMetadata {
    /// Idempotency key of the command: a second command with this key in the same stream
    /// appends nothing ([`crate::AppendError::Duplicate`]).
    pub dedup_key: Option<String>,
    /// Who issued the command (for example `buyer:42`).
    pub actor: Option<String>,
    /// The business flow this command belongs to.
    pub correlation_id: Option<String>,
    /// The message (command or event) that caused this command.
    pub causation_id: Option<String>,
    /// The HTTP request that carried the command.
    pub request_id: Option<String>,
}

impl EventMetadata {
    /// Metadata with only a dedup key.
    pub fn with_dedup_key(key: impl Into<String>) -> Self {
        Self {
            dedup_key: Some(key.into()),
            ..Self::default()
        }
    }

    fn fields(&self) -> [(&'static str, &Option<String>); 5] {
        [
            (DEDUP_KEY, &self.dedup_key),
            (ACTOR, &self.actor),
            (CORRELATION_ID, &self.correlation_id),
            (CAUSATION_ID, &self.causation_id),
            (REQUEST_ID, &self.request_id),
        ]
    }

    /// The JSON object stored for the event at `command_index` within its command.
    pub(crate) fn to_stored(&self, command_index: usize) -> Value {
        let mut map: Map<String, Value> = self
            .fields()
            .into_iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| (k.to_owned(), Value::String(v.clone()))))
            .collect();
        map.insert(
            COMMAND_INDEX.to_owned(),
            Value::String(command_index.to_string()),
        );
        Value::Object(map)
    }

    /// Reads metadata back from its stored JSON; unknown keys are ignored.
    pub(crate) fn from_stored(value: &Value) -> Self {
        let get = |key: &str| value.get(key).and_then(Value::as_str).map(str::to_owned);
        Self {
            dedup_key: get(DEDUP_KEY),
            actor: get(ACTOR),
            correlation_id: get(CORRELATION_ID),
            causation_id: get(CAUSATION_ID),
            request_id: get(REQUEST_ID),
        }
    }

    /// The metadata as cqrs-es's string map.
    pub fn to_map(&self) -> HashMap<String, String> {
        self.fields()
            .into_iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| (k.to_owned(), v.clone())))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_metadata_round_trips_and_numbers_the_event() {
        let meta = EventMetadata {
            dedup_key: Some("k".into()),
            actor: Some("buyer:1".into()),
            correlation_id: Some("c".into()),
            causation_id: None,
            request_id: Some("r".into()),
        };
        let stored = meta.to_stored(2);
        assert_eq!(stored[COMMAND_INDEX], "2");
        assert!(stored.get(CAUSATION_ID).is_none());
        assert_eq!(EventMetadata::from_stored(&stored), meta);
    }
}
