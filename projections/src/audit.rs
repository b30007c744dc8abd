//! `orders audit`: an order's events with who, when, why, and its state as of a time.

use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use domain::{Order, OrderEvent};
use event_store::EventStore;
use serde::Serialize;
use serde_json::value::RawValue;

use crate::document::OrderDocument;
use crate::error::ProjectionError;

/// One event of an order's history.
#[derive(Debug, Clone, Serialize)]
pub struct AuditEntry {
    /// Sequence in the order's stream (the order's version after it).
    pub sequence: u64,
    /// When it was recorded.
    pub recorded_at: DateTime<Utc>,
    /// Event type.
    pub event_type: String,
    /// Who issued the command (`buyer:42`, `system:…`).
    pub actor: Option<String>,
    /// The command's dedup key.
    pub dedup_key: Option<String>,
    /// The business flow it belongs to.
    pub correlation_id: Option<String>,
    /// What caused it.
    pub causation_id: Option<String>,
    /// The HTTP request that carried it.
    pub request_id: Option<String>,
    /// The payload.
    pub payload: Box<RawValue>,
}

/// An order's history and its state as of a time.
#[derive(Debug, Clone, Serialize)]
pub struct Audit {
    /// The order id.
    pub order_id: String,
    /// Every event of its stream, in order.
    pub events: Vec<AuditEntry>,
    /// The time the state is for.
    pub at: DateTime<Utc>,
    /// The order as of `at`: its events recorded at or before then; `None` if it did not
    /// exist yet (or never became an order).
    pub state: Option<OrderDocument>,
}

/// The audit of order `order_id` as of `at`; `None` when the log has no such stream.
pub async fn audit(
    store: &EventStore,
    order_id: &str,
    at: DateTime<Utc>,
) -> Result<Option<Audit>, ProjectionError> {
    let events = store.read_stream(Order::TYPE, order_id).await?;
    if events.is_empty() {
        return Ok(None);
    }
    let mut order = Order::default();
    let mut version = 0;
    for event in events.iter().filter(|e| e.recorded_at <= at) {
        order.apply(event.decode::<OrderEvent>()?);
        version = event.sequence;
    }
    Ok(Some(Audit {
        order_id: order_id.to_owned(),
        state: OrderDocument::of(&order, version),
        at,
        events: events
            .into_iter()
            .map(|e| AuditEntry {
                sequence: e.sequence,
                recorded_at: e.recorded_at,
                event_type: e.event_type,
                actor: e.metadata.actor,
                dedup_key: e.metadata.dedup_key,
                correlation_id: e.metadata.correlation_id,
                causation_id: e.metadata.causation_id,
                request_id: e.metadata.request_id,
                payload: e.payload,
            })
            .collect(),
    }))
}
