//! Upcasters: an older version of an event, as the log keeps it, read as today's.
//!
//! The log is never rewritten. When an event's payload changes shape, its `event_version`
//! goes up and an upcaster here turns the older version into the newer one as the event store
//! reads it (ADR 31). Every fixture of an older version under `tests/fixtures/events/` must
//! read as today's event through [`upcasters`].

use cqrs_es::persist::{EventUpcaster, SerializedEvent};
use serde_json::Value;

use crate::order::REFUND_REQUESTED_VERSION;

/// The upcasters of every aggregate's events, in the order the store applies them: each sees
/// what the ones before it made, so `1.0 -> 2.0` before `2.0 -> 3.0` reads a `1.0` as a `3.0`.
/// Every event store that decodes domain events is built with them
/// (`EventStore::with_upcasters`).
pub fn upcasters() -> Vec<Box<dyn EventUpcaster>> {
    vec![Box::new(VersionUpcaster {
        event_type: "RefundRequested",
        from: "1.0",
        to: REFUND_REQUESTED_VERSION,
        convert: refund_requested_1_0,
    })]
}

/// `RefundRequested` 1.0 named its refund lines `items`, the word `OrderPlaced` uses for order
/// lines of another shape; 2.0 names them `lines`, as the order's refunds do. A payload of
/// another shape is left as it is, for decoding to refuse with its own error.
fn refund_requested_1_0(mut payload: Value) -> Value {
    if let Some(body) = payload
        .get_mut("RefundRequested")
        .and_then(Value::as_object_mut)
    {
        if let Some(items) = body.remove("items") {
            body.insert("lines".to_owned(), items);
        }
    }
    payload
}

/// Turns exactly one version of one event type into the next.
///
/// Unlike cqrs-es's `SemanticVersionEventUpcaster`, which takes every lower version and
/// writes its own `major.minor.patch` form (`"2.0.0"`), this one takes only the version it
/// was written for and gives the event the very version string today's code writes, so an
/// upcast event and a new one carry the same version.
struct VersionUpcaster {
    event_type: &'static str,
    from: &'static str,
    to: &'static str,
    convert: fn(Value) -> Value,
}

impl EventUpcaster for VersionUpcaster {
    fn can_upcast(&self, event_type: &str, event_version: &str) -> bool {
        event_type == self.event_type && event_version == self.from
    }

    fn upcast(&self, event: SerializedEvent) -> SerializedEvent {
        SerializedEvent {
            event_version: self.to.to_owned(),
            payload: (self.convert)(event.payload),
            ..event
        }
    }
}
