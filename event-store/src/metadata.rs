//! Event metadata: who did what, on whose behalf, and the key that makes it happen once.

use std::collections::HashMap;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::Value;

const DEDUP_KEY: &str = "dedup_key";
const ACTOR: &str = "actor";
const CORRELATION_ID: &str = "correlation_id";
const CAUSATION_ID: &str = "causation_id";
const REQUEST_ID: &str = "request_id";
const REQUEST_DIGEST: &str = "request_digest";

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
    /// A digest of the request that carried a command with a client's idempotency key: a
    /// retry under the key with another request is refused
    /// ([`crate::ExecuteError::KeyReused`]) instead of answered as the first one was.
    pub request_digest: Option<String>,
}

impl EventMetadata {
    /// Metadata with only a dedup key.
    pub fn with_dedup_key(key: impl Into<String>) -> Self {
        Self {
            dedup_key: Some(key.into()),
            ..Self::default()
        }
    }

    fn fields(&self) -> [(&'static str, &Option<String>); 6] {
        [
            (DEDUP_KEY, &self.dedup_key),
            (ACTOR, &self.actor),
            (CORRELATION_ID, &self.correlation_id),
            (CAUSATION_ID, &self.causation_id),
            (REQUEST_ID, &self.request_id),
            (REQUEST_DIGEST, &self.request_digest),
        ]
    }

    /// The JSON object stored for the event at `command_index` within its command: the fields
    /// that are set, and the index as a string, keys in byte order.
    pub(crate) fn to_stored(&self, command_index: usize) -> Value {
        // serialising a struct of strings into a Value cannot fail
        serde_json::to_value(self.stored(command_index)).unwrap_or(Value::Null)
    }

    /// [`EventMetadata::to_stored`] as JSON text, written straight from the fields.
    pub(crate) fn to_stored_text(&self, command_index: usize) -> String {
        // serialising a struct of strings into a String cannot fail
        serde_json::to_string(&self.stored(command_index)).unwrap_or_default()
    }

    fn stored(&self, command_index: usize) -> StoredRef<'_> {
        StoredRef {
            actor: self.actor.as_deref(),
            causation_id: self.causation_id.as_deref(),
            command_index: command_index.to_string(),
            correlation_id: self.correlation_id.as_deref(),
            dedup_key: self.dedup_key.as_deref(),
            request_digest: self.request_digest.as_deref(),
            request_id: self.request_id.as_deref(),
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

/// The stored object as written: the fields in byte order of their keys (the order a
/// `serde_json::Map` kept them in before, so the text is the same).
#[derive(Serialize)]
struct StoredRef<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    actor: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    causation_id: Option<&'a str>,
    command_index: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    correlation_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dedup_key: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_digest: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<&'a str>,
}

/// Metadata read back from its stored JSON object, decoded straight into its fields: unknown
/// keys, and known keys whose value is not a string, are skipped.
#[derive(Debug, Default)]
pub(crate) struct Stored {
    /// The command's metadata.
    pub(crate) metadata: EventMetadata,
    /// The shard a copy was made from by a move (ADR 42); `None` for an event appended here.
    pub(crate) copied_from: Option<String>,
}

impl<'de> Deserialize<'de> for Stored {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(StoredVisitor)
    }
}

/// A key of the stored object, matched without copying it.
#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "snake_case")]
enum Field {
    DedupKey,
    Actor,
    CorrelationId,
    CausationId,
    RequestId,
    RequestDigest,
    CopiedFrom,
    #[serde(other)]
    Other,
}

struct StoredVisitor;

impl<'de> Visitor<'de> for StoredVisitor {
    type Value = Stored;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an event's metadata object")
    }

    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Stored, M::Error> {
        let mut meta = EventMetadata::default();
        let mut copied_from = None;
        while let Some(key) = map.next_key::<Field>()? {
            let field = match key {
                Field::DedupKey => &mut meta.dedup_key,
                Field::Actor => &mut meta.actor,
                Field::CorrelationId => &mut meta.correlation_id,
                Field::CausationId => &mut meta.causation_id,
                Field::RequestId => &mut meta.request_id,
                Field::RequestDigest => &mut meta.request_digest,
                Field::CopiedFrom => &mut copied_from,
                Field::Other => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            *field = map.next_value::<StringOrNot>()?.0;
        }
        Ok(Stored {
            metadata: meta,
            copied_from,
        })
    }
}

/// A value kept when it is a string, skipped otherwise.
struct StringOrNot(Option<String>);

impl<'de> Deserialize<'de> for StringOrNot {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StringOrNotVisitor)
    }
}

struct StringOrNotVisitor;

impl<'de> Visitor<'de> for StringOrNotVisitor {
    type Value = StringOrNot;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any value")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<StringOrNot, E> {
        Ok(StringOrNot(Some(v.to_owned())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<StringOrNot, E> {
        Ok(StringOrNot(Some(v)))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<StringOrNot, E> {
        Ok(StringOrNot(None))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<StringOrNot, E> {
        Ok(StringOrNot(None))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<StringOrNot, E> {
        Ok(StringOrNot(None))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<StringOrNot, E> {
        Ok(StringOrNot(None))
    }

    fn visit_unit<E: de::Error>(self) -> Result<StringOrNot, E> {
        Ok(StringOrNot(None))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<StringOrNot, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(StringOrNot(None))
    }

    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<StringOrNot, M::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(StringOrNot(None))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> EventMetadata {
        serde_json::from_str::<Stored>(text).unwrap().metadata
    }

    #[test]
    fn stored_metadata_round_trips_and_numbers_the_event() {
        let meta = EventMetadata {
            dedup_key: Some("k".into()),
            actor: Some("buyer:1".into()),
            correlation_id: Some("c".into()),
            causation_id: None,
            request_id: Some("r".into()),
            request_digest: Some("d".into()),
        };
        let stored = meta.to_stored(2);
        assert_eq!(stored["command_index"], "2");
        assert!(stored.get("causation_id").is_none());
        assert_eq!(read(&stored.to_string()), meta);
        assert_eq!(meta.to_stored_text(2), stored.to_string());
        assert_eq!(read(&meta.to_stored_text(0)), meta);
    }

    /// The text is what the map of strings wrote before (keys in byte order), so rows written
    /// before and after read and index alike.
    #[test]
    fn stored_text_keeps_its_shape() {
        let meta = EventMetadata {
            dedup_key: Some("pay:\"7\"".into()),
            actor: Some("buyer:1".into()),
            correlation_id: None,
            causation_id: Some("c".into()),
            request_id: None,
            request_digest: None,
        };
        assert_eq!(
            meta.to_stored_text(1),
            r#"{"actor":"buyer:1","causation_id":"c","command_index":"1","dedup_key":"pay:\"7\""}"#
        );
        assert_eq!(
            EventMetadata::default().to_stored_text(0),
            r#"{"command_index":"0"}"#
        );
    }

    /// The stored object is pinned by checked-in fixtures, the exact text the log keeps
    /// (ADR 31): each reads with today's code and writes back byte for byte.
    #[test]
    fn the_stored_metadata_fixtures_read_and_write_back_byte_for_byte() {
        let before_request_digest = EventMetadata {
            dedup_key: Some("refund:r-1".into()),
            actor: Some("buyer:b-1".into()),
            correlation_id: Some("checkout:1001".into()),
            causation_id: Some("event:Order/1001/2".into()),
            request_id: Some("req-7f3a".into()),
            request_digest: None,
        };
        let every_field = EventMetadata {
            request_digest: Some(
                "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".into(),
            ),
            ..before_request_digest.clone()
        };
        for (fixture, expected, command_index) in [
            (
                include_str!("../tests/fixtures/metadata/every_field.json"),
                every_field,
                1,
            ),
            (
                include_str!("../tests/fixtures/metadata/before_request_digest.json"),
                before_request_digest,
                1,
            ),
            (
                include_str!("../tests/fixtures/metadata/no_field.json"),
                EventMetadata::default(),
                0,
            ),
        ] {
            let text = fixture.trim_end_matches('\n');
            let read = read(text);
            assert_eq!(read, expected, "{text}");
            assert_eq!(read.to_stored_text(command_index), text);
            assert_eq!(read.to_stored(command_index).to_string(), text);
        }
    }

    /// Metadata written by others (postgres-es's string map, or by hand) reads as before:
    /// unknown keys and values that are not strings are skipped, escapes are undone.
    #[test]
    fn stored_metadata_from_others_is_read_leniently() {
        let meta = read(
            r#"{"x":{"y":[1,{"z":2}]},"actor":7,"dedup_key":"a\u0041\"","request_id":null,
                "correlation_id":["c"],"causation_id":{"k":"v"},"command_index":"3"}"#,
        );
        assert_eq!(
            meta,
            EventMetadata {
                dedup_key: Some("aA\"".into()),
                ..EventMetadata::default()
            }
        );
        assert_eq!(read("{}"), EventMetadata::default());
        assert!(serde_json::from_str::<Stored>("[]").is_err());
    }
}
