//! The message an event becomes on NATS: a versioned JSON envelope, its subject and its
//! headers. A public contract, as the events themselves are: fields are added, never renamed
//! or removed, and a change that would break a reader raises [`ENVELOPE_VERSION`].

use async_nats::HeaderMap;
use chrono::{DateTime, Utc};
use event_store::RecordedEvent;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// The envelope's format version, in the body and in [`HEADER_ENVELOPE_VERSION`].
pub const ENVELOPE_VERSION: u32 = 1;
/// The JetStream deduplication header: the event's [`Envelope::event_id`].
pub const HEADER_MSG_ID: &str = "Nats-Msg-Id";
/// The event's type, so that a consumer can skip an event without parsing the body.
pub const HEADER_EVENT_TYPE: &str = "Orders-Event-Type";
/// [`ENVELOPE_VERSION`] of the body.
pub const HEADER_ENVELOPE_VERSION: &str = "Orders-Envelope-Version";

/// One event of the log as published: what it is, where it sits in its stream and in the log,
/// the flow it belongs to, and its payload as stored (cqrs-es's externally tagged JSON).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Envelope {
    /// [`ENVELOPE_VERSION`] when it was written.
    pub envelope_version: u32,
    /// `{aggregate_type}/{aggregate_id}/{sequence}`: unique per event, across database shards
    /// too, and the causation id that reactions give the commands it causes. Deduplicate
    /// effects by it.
    pub event_id: String,
    /// Stable event type string (`OrderPlaced`, ...).
    pub event_type: String,
    /// Payload version (after upcasting).
    pub event_version: String,
    /// Aggregate type of the stream (`Order`, `Cart`, `Sku`, `Product`, ...).
    pub aggregate_type: String,
    /// Aggregate id of the stream.
    pub aggregate_id: String,
    /// The event's sequence within its stream, from 1: the stream's version after it.
    pub aggregate_version: u64,
    /// The gene (0..1024) of the stream's partition: see [`ids::gene_of_stream`].
    pub partition: u16,
    /// Global position in the log it was read from (per database: not comparable across
    /// shards, and not commit order).
    pub position: i64,
    /// When it was recorded.
    pub recorded_at: DateTime<Utc>,
    /// The business flow the command that appended it belongs to.
    pub correlation_id: Option<String>,
    /// The message (command or event) that caused that command.
    pub causation_id: Option<String>,
    /// The command's idempotency key.
    pub dedup_key: Option<String>,
    /// The event's JSON exactly as stored.
    pub payload: Box<RawValue>,
}

impl Envelope {
    /// The envelope of `event`.
    pub fn of(event: &RecordedEvent) -> Self {
        Self {
            envelope_version: ENVELOPE_VERSION,
            event_id: event_id(event),
            event_type: event.event_type.clone(),
            event_version: event.event_version.clone(),
            aggregate_type: event.aggregate_type.clone(),
            aggregate_id: event.aggregate_id.clone(),
            aggregate_version: event.sequence,
            partition: ids::gene_of_stream(&event.aggregate_type, &event.aggregate_id),
            position: event.position,
            recorded_at: event.recorded_at,
            correlation_id: event.metadata.correlation_id.clone(),
            causation_id: event.metadata.causation_id.clone(),
            dedup_key: event.metadata.dedup_key.clone(),
            payload: event.payload.clone(),
        }
    }

    /// The subject it is published on under `prefix`:
    /// `<prefix>.<aggregate_type>.<partition>.<event_type>`.
    pub fn subject(&self, prefix: &str) -> String {
        format!(
            "{prefix}.{}.{}.{}",
            token(&self.aggregate_type),
            self.partition,
            token(&self.event_type)
        )
    }

    /// Its headers: [`HEADER_MSG_ID`] (JetStream drops a second message with the same id
    /// within the stream's duplicate window), [`HEADER_EVENT_TYPE`] and
    /// [`HEADER_ENVELOPE_VERSION`].
    pub fn headers(&self) -> HeaderMap {
        let mut headers = HeaderMap::new();
        // the standard name, as headers read back from the wire are named
        headers.insert(async_nats::header::NATS_MESSAGE_ID, self.event_id.as_str());
        headers.insert(HEADER_EVENT_TYPE, self.event_type.as_str());
        headers.insert(
            HEADER_ENVELOPE_VERSION,
            ENVELOPE_VERSION.to_string().as_str(),
        );
        headers
    }

    /// Its JSON body.
    pub fn to_json(&self) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec(self)
    }

    /// An envelope read from a message body.
    pub fn from_json(body: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(body)
    }
}

/// The event's id: `{aggregate_type}/{aggregate_id}/{sequence}`.
pub fn event_id(event: &RecordedEvent) -> String {
    format!(
        "{}/{}/{}",
        event.aggregate_type, event.aggregate_id, event.sequence
    )
}

/// `name` as one subject token: the characters NATS gives a meaning (`.`, `*`, `>`) and
/// whitespace become `_`, and an empty name `_`. Aggregate and event types are identifiers,
/// so this changes none of today's.
fn token(name: &str) -> String {
    if name.is_empty() {
        return "_".to_owned();
    }
    name.chars()
        .map(|c| {
            if matches!(c, '.' | '*' | '>') || c.is_whitespace() {
                '_'
            } else {
                c
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use event_store::EventMetadata;

    fn order_placed() -> RecordedEvent {
        RecordedEvent {
            position: 42,
            txid: 7,
            aggregate_type: "Order".to_owned(),
            aggregate_id: "123456789012345".to_owned(),
            sequence: 3,
            event_type: "OrderPlaced".to_owned(),
            event_version: "1.0".to_owned(),
            payload: RawValue::from_string(r#"{"OrderPlaced":{"total":1250}}"#.to_owned()).unwrap(),
            metadata: EventMetadata {
                dedup_key: Some("place:1".to_owned()),
                actor: Some("buyer:b-42".to_owned()),
                correlation_id: Some("corr-1".to_owned()),
                causation_id: None,
                request_id: Some("req-1".to_owned()),
                request_digest: None,
            },
            copied_from: None,
            recorded_at: "2026-03-01T12:34:56.789Z".parse().unwrap(),
        }
    }

    /// The envelope is a public contract: this is its exact text.
    #[test]
    fn an_envelope_is_pinned_to_its_published_form() {
        let envelope = Envelope::of(&order_placed());
        let json = String::from_utf8(envelope.to_json().unwrap()).unwrap();
        assert_eq!(
            json,
            r#"{"envelope_version":1,"event_id":"Order/123456789012345/3","event_type":"OrderPlaced","event_version":"1.0","aggregate_type":"Order","aggregate_id":"123456789012345","aggregate_version":3,"partition":889,"position":42,"recorded_at":"2026-03-01T12:34:56.789Z","correlation_id":"corr-1","causation_id":null,"dedup_key":"place:1","payload":{"OrderPlaced":{"total":1250}}}"#
        );
        let back = Envelope::from_json(json.as_bytes()).unwrap();
        assert_eq!(back.event_id, envelope.event_id);
        assert_eq!(back.payload.get(), envelope.payload.get());
        assert_eq!(back.recorded_at, envelope.recorded_at);
    }

    #[test]
    fn an_order_s_subject_carries_the_gene_its_id_carries() {
        // 123456789012345 & 1023 == 889
        assert_eq!(
            Envelope::of(&order_placed()).subject("orders"),
            "orders.Order.889.OrderPlaced"
        );
    }

    #[test]
    fn headers_carry_the_event_id_type_and_envelope_version() {
        let headers = Envelope::of(&order_placed()).headers();
        assert_eq!(
            headers
                .get(async_nats::header::NATS_MESSAGE_ID)
                .unwrap()
                .as_str(),
            "Order/123456789012345/3"
        );
        assert_eq!(
            headers.get(HEADER_EVENT_TYPE).unwrap().as_str(),
            "OrderPlaced"
        );
        assert_eq!(headers.get(HEADER_ENVELOPE_VERSION).unwrap().as_str(), "1");
    }

    #[test]
    fn names_that_are_not_subject_tokens_are_made_into_one() {
        let mut event = order_placed();
        event.aggregate_type = "Odd.Type".to_owned();
        event.event_type = "a b>*".to_owned();
        event.aggregate_id = "x".to_owned();
        let subject = Envelope::of(&event).subject("p");
        assert_eq!(
            subject,
            format!("p.Odd_Type.{}.a_b__", ids::gene_of_buyer("x"))
        );
    }
}
