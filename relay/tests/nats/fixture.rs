//! What the tests share: small aggregates of the types the relay partitions differently,
//! a log filled with them, uniquely named streams, and waiting for a stream to fill.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use async_nats::jetstream;
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use event_store::{Checkpoint, EventMetadata, EventStore};
use relay::RelaySettings;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Happened {
    Opened { n: u64 },
    Changed { n: u64 },
}

impl DomainEvent for Happened {
    fn event_type(&self) -> String {
        match self {
            Self::Opened { .. } => "Opened",
            Self::Changed { .. } => "Changed",
        }
        .to_owned()
    }
    fn event_version(&self) -> String {
        "1.0".to_owned()
    }
}

#[derive(Debug, thiserror::Error)]
#[error("never")]
pub struct Never;

macro_rules! fixture_aggregate {
    ($name:ident, $type:literal) => {
        #[derive(Debug, Clone, Default, Serialize, Deserialize)]
        pub struct $name;

        impl Aggregate for $name {
            const TYPE: &'static str = $type;
            type Command = ();
            type Event = Happened;
            type Error = Never;
            type Services = ();

            async fn handle(&mut self, _: (), _: &(), _: &EventSink<Self>) -> Result<(), Never> {
                Ok(())
            }

            fn apply(&mut self, _: Happened) {}
        }
    };
}

fixture_aggregate!(Order, "Order");
fixture_aggregate!(Cart, "Cart");
fixture_aggregate!(Sku, "Sku");

/// Appends `per_stream` events to each of `streams` streams (orders, carts and SKUs in turn),
/// `chunk` events per command, the streams written concurrently. Answers the events appended.
pub async fn fill_log(store: &EventStore, streams: usize, per_stream: u64, chunk: u64) -> u64 {
    let writers = (0..streams).map(|i| {
        let store = store.clone();
        async move {
            let mut version = 0;
            while version < per_stream {
                let count = chunk.min(per_stream - version);
                let events: Vec<Happened> = (version..version + count)
                    .map(|n| {
                        if n == 0 {
                            Happened::Opened { n }
                        } else {
                            Happened::Changed { n }
                        }
                    })
                    .collect();
                let metadata = EventMetadata {
                    dedup_key: Some(format!("cmd-{i}-{version}")),
                    correlation_id: Some(format!("flow-{i}")),
                    ..EventMetadata::default()
                };
                match i % 3 {
                    // order ids carry their gene in the low bits
                    0 => {
                        store
                            .append::<Order>(
                                &format!("{}", 1_000_000 + i * 337),
                                version,
                                &events,
                                &metadata,
                            )
                            .await
                    }
                    1 => {
                        store
                            .append::<Cart>(&format!("buyer-{i}"), version, &events, &metadata)
                            .await
                    }
                    _ => {
                        store
                            .append::<Sku>(&format!("sku-{i}"), version, &events, &metadata)
                            .await
                    }
                }
                .unwrap();
                version += count;
            }
        }
    });
    futures::future::join_all(writers).await;
    streams as u64 * per_stream
}

/// Every event id of the log, mapped to its index in commit order.
pub async fn log_order(store: &EventStore) -> HashMap<String, usize> {
    let mut order = HashMap::new();
    let mut from = Checkpoint::START;
    loop {
        let batch = store.read_after(from, 1_000).await.unwrap();
        let Some(last) = batch.last() else {
            return order;
        };
        from = last.checkpoint();
        for event in &batch {
            let index = order.len();
            order.insert(relay::event_id(event), index);
        }
    }
}

/// Settings of a stream no other test uses, whose messages expire soon in case a failed test
/// leaves it behind.
pub fn unique_settings() -> RelaySettings {
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    RelaySettings {
        stream: format!("RELAY_TEST_{}", &suffix[..12]),
        subject_prefix: format!("relaytest{}", &suffix[..12]),
        max_age: Duration::from_secs(600),
        ..RelaySettings::default()
    }
}

/// The shared NATS of the machine (NATS_URL, else the default port).
pub fn nats_url() -> String {
    std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned())
}

/// A JetStream context on `url`, with the stream of `settings` created.
pub async fn jetstream_with_stream(url: &str, settings: &RelaySettings) -> jetstream::Context {
    let client = relay::connect(url, "relay-tests").await.unwrap();
    let js = jetstream::new(client);
    relay::ensure_stream(&js, settings).await.unwrap();
    js
}

/// How many messages `stream` holds.
pub async fn stream_messages(js: &jetstream::Context, stream: &str) -> u64 {
    js.get_stream(stream)
        .await
        .unwrap()
        .cached_info()
        .state
        .messages
}

/// Waits until `stream` holds `count` messages (or fails after `within`).
pub async fn wait_for_messages(
    js: &jetstream::Context,
    stream: &str,
    count: u64,
    within: Duration,
) {
    let deadline = Instant::now() + within;
    loop {
        let held = match js.get_stream(stream).await {
            Ok(handle) => handle.cached_info().state.messages,
            Err(_) => 0,
        };
        if held >= count {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{stream} holds {held} of {count} messages after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Deletes the streams of `settings`, the dead letters' too if there are any.
pub async fn delete_streams(js: &jetstream::Context, settings: &RelaySettings) {
    js.delete_stream(&settings.stream).await.unwrap();
    let _ = js.delete_stream(settings.dead_letter_stream()).await;
}

/// An `Order` event of sequence `sequence` in order `order_id`, as the log would hold it.
pub fn recorded(order_id: u64, sequence: u64) -> event_store::RecordedEvent {
    event_store::RecordedEvent {
        position: i64::try_from(sequence).unwrap(),
        txid: 0,
        aggregate_type: "Order".to_owned(),
        aggregate_id: order_id.to_string(),
        sequence,
        event_type: "Changed".to_owned(),
        event_version: "1.0".to_owned(),
        payload: serde_json::value::RawValue::from_string(format!(
            r#"{{"Changed":{{"n":{sequence}}}}}"#
        ))
        .unwrap(),
        metadata: EventMetadata::default(),
        copied_from: None,
        recorded_at: chrono::Utc::now(),
    }
}

pub use relay::testing::publish;
