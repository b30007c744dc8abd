//! Upcasters: an older version of an event, as the log keeps it, read as today's.
//!
//! The log is never rewritten. When an event's payload changes shape, its `event_version`
//! goes up and an upcaster here turns the older version into the newer one as the event store
//! reads it (ADR 31). Every fixture of an older version under `tests/fixtures/events/` must
//! read as today's event through [`upcasters`].

use cqrs_es::persist::EventUpcaster;

/// The upcasters of every aggregate's events, in the order the store applies them: each sees
/// what the ones before it made, so `1.0 -> 2.0` before `2.0 -> 3.0` reads a `1.0` as a `3.0`.
/// Every event store that decodes domain events is built with them
/// (`EventStore::with_upcasters`).
pub fn upcasters() -> Vec<Box<dyn EventUpcaster>> {
    Vec::new()
}
