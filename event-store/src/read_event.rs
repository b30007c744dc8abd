//! What an upcaster may rewrite of an event as it is read: its type, version and stored
//! payload, whether the event was read from the log or from one stream (ADR 31).

use serde_json::Value;

use crate::{RecordedEvent, StoreError, StreamEvent};

/// A read event whose type, version and stored payload an upcaster may rewrite.
pub(crate) trait ReadEvent {
    /// The event's type and version, and its payload's stored text.
    fn upcastable(&mut self) -> (&mut String, &mut String, &str);

    /// Replaces the payload with `payload`.
    fn replace_payload(&mut self, payload: &Value) -> Result<(), StoreError>;
}

impl ReadEvent for RecordedEvent {
    fn upcastable(&mut self) -> (&mut String, &mut String, &str) {
        (
            &mut self.event_type,
            &mut self.event_version,
            self.payload.get(),
        )
    }

    fn replace_payload(&mut self, payload: &Value) -> Result<(), StoreError> {
        self.payload = serde_json::value::to_raw_value(payload)?;
        Ok(())
    }
}

impl ReadEvent for StreamEvent {
    fn upcastable(&mut self) -> (&mut String, &mut String, &str) {
        (&mut self.event_type, &mut self.event_version, &self.payload)
    }

    fn replace_payload(&mut self, payload: &Value) -> Result<(), StoreError> {
        self.payload = payload.to_string();
        Ok(())
    }
}
