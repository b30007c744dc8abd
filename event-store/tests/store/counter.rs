//! A minimal aggregate for exercising the store, independent of the domain crate.

use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Counter {
    pub total: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum CounterEvent {
    Added { amount: u64 },
}

impl DomainEvent for CounterEvent {
    fn event_type(&self) -> String {
        "Added".to_owned()
    }
    fn event_version(&self) -> String {
        "2.0".to_owned()
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("counter error")]
pub struct CounterError;

impl Aggregate for Counter {
    const TYPE: &'static str = "Counter";
    type Command = u64;
    type Event = CounterEvent;
    type Error = CounterError;
    type Services = ();

    async fn handle(
        &mut self,
        amount: u64,
        _: &(),
        sink: &EventSink<Self>,
    ) -> Result<(), CounterError> {
        sink.write(CounterEvent::Added { amount }, self).await;
        Ok(())
    }

    fn apply(&mut self, event: CounterEvent) {
        match event {
            CounterEvent::Added { amount } => self.total += amount,
        }
    }
}

pub fn added(amount: u64) -> CounterEvent {
    CounterEvent::Added { amount }
}
