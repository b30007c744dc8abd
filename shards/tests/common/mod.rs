//! What the shards crate's tests on real PostgreSQL share: streams of the aggregate types whose
//! genes are chosen differently, with one kind of event, and shard names.

use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};
use shards::ShardName;

/// The aggregate types whose genes are chosen differently, by index.
pub(crate) const TYPES: [&str; 3] = ["Order", "Cart", "Sku"];

/// A stream of the type `TYPES[K]`, with one kind of event.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Stream<const K: usize>;

/// The one event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Noted;

impl DomainEvent for Noted {
    fn event_type(&self) -> String {
        "Noted".to_owned()
    }
    fn event_version(&self) -> String {
        "1.0".to_owned()
    }
}

/// No command of these streams fails.
#[derive(Debug, thiserror::Error)]
#[error("never")]
pub(crate) struct Never;

impl<const K: usize> Aggregate for Stream<K> {
    const TYPE: &'static str = TYPES[K];
    type Command = ();
    type Event = Noted;
    type Error = Never;
    type Services = ();

    async fn handle(&mut self, (): (), _: &(), _: &EventSink<Self>) -> Result<(), Never> {
        Ok(())
    }

    fn apply(&mut self, _: Noted) {}
}

/// The shard named `text`.
pub(crate) fn name(text: &str) -> ShardName {
    text.parse().expect("a shard name")
}
