//! The relay killed with a batch in flight and started again: every event once, in order.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use async_nats::jetstream;
use event_store::EventStore;
use event_store::follower::FollowerMetrics;
use relay::testing::{StoredMessage, read_stream};
use relay::{HEADER_MSG_ID, Relay, RelayMetrics, RelaySettings};
use tokio_util::sync::CancellationToken;

use crate::fixture::{
    delete_streams, fill_log, jetstream_with_stream, log_order, nats_url, stream_messages,
    unique_settings, wait_for_messages,
};

/// A relay following `store` into the stream of `settings`, on a connection of its own (as a
/// process has).
async fn spawn_relay(
    store: &EventStore,
    settings: &RelaySettings,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    let client = relay::connect(&nats_url(), "relay-under-test")
        .await
        .unwrap();
    let relay = Relay::new(
        jetstream::new(client),
        settings.clone(),
        RelayMetrics::new().unwrap(),
    );
    let follower = relay::follower(store.clone(), relay, FollowerMetrics::new("relay").unwrap());
    tokio::spawn(follower.run(shutdown))
}

/// What every test of the relay asserts of a stream: exactly one message per event of the
/// log, no message id twice, and per subject the events in log order.
pub fn assert_every_event_once_in_log_order(
    messages: &[StoredMessage],
    log: &HashMap<String, usize>,
) {
    let mut ids = HashSet::new();
    for message in messages {
        let id = message
            .header(HEADER_MSG_ID)
            .unwrap_or_else(|| panic!("a message without Nats-Msg-Id: {message:?}"));
        assert!(ids.insert(id.clone()), "{id} published twice");
        assert!(log.contains_key(&id), "{id} is not an event of the log");
        assert_eq!(message.envelope().event_id, id);
    }
    assert_eq!(
        messages.len(),
        log.len(),
        "{} messages for {} events",
        messages.len(),
        log.len()
    );
    let mut last_by_subject: HashMap<&str, usize> = HashMap::new();
    for message in messages {
        let index = log[&message.envelope().event_id];
        if let Some(previous) = last_by_subject.insert(&message.subject, index) {
            assert!(
                previous < index,
                "on {} event #{index} of the log came after #{previous}",
                message.subject
            );
        }
    }
}

#[sqlx::test(migrator = "event_store::MIGRATOR")]
async fn a_relay_killed_with_a_batch_in_flight_publishes_every_event_once_in_order(
    pool: sqlx::PgPool,
) {
    let store = EventStore::postgres(pool);
    let settings = unique_settings();
    let js = jetstream_with_stream(&nats_url(), &settings).await;
    let total = fill_log(&store, 90, 50, 10).await;
    let log = log_order(&store).await;
    assert_eq!(log.len() as u64, total);

    let started = Instant::now();
    let first = spawn_relay(&store, &settings, CancellationToken::new()).await;
    // kill it once the stream holds part of a batch: some messages, not a whole number of
    // batches
    let batch = relay::RELAY_BATCH_SIZE as u64;
    let caught = loop {
        let held = stream_messages(&js, &settings.stream).await;
        if held % batch != 0 && held < total {
            first.abort();
            break held;
        }
        assert!(
            held < total,
            "the relay finished before a batch was caught in flight"
        );
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the relay published nothing"
        );
    };
    let _ = first.await;
    // whatever the killed relay's connection still had in flight lands now, or never
    tokio::time::sleep(Duration::from_millis(200)).await;
    let after_kill = stream_messages(&js, &settings.stream).await;

    let shutdown = CancellationToken::new();
    let second = spawn_relay(&store, &settings, shutdown.clone()).await;
    wait_for_messages(&js, &settings.stream, total, Duration::from_secs(20)).await;
    let elapsed = started.elapsed();
    // a relay that published twice would go on past the total
    tokio::time::sleep(Duration::from_millis(500)).await;
    shutdown.cancel();
    second.await.unwrap();

    let messages = read_stream(&js, &settings.stream).await;
    assert_every_event_once_in_log_order(&messages, &log);
    eprintln!("{total} events published in {elapsed:?}, killed at {caught} ({after_kill} stored)");
    delete_streams(&js, &settings).await;
}

/// The relay leans on this: JetStream checks a message id before the expected last
/// sequence, so a republished event is a duplicate, not a refusal that would block the relay.
#[tokio::test]
async fn a_republished_event_is_a_duplicate_whatever_the_expected_sequence() {
    use async_nats::jetstream::context::Publish;
    let settings = unique_settings();
    let js = jetstream_with_stream(&nats_url(), &settings).await;
    let subject = format!("{}.Test.1.Happened", settings.subject_prefix);
    let publish = |id: &str, expected: u64| {
        Publish::build()
            .payload("{}".into())
            .message_id(id)
            .expected_last_sequence(expected)
    };
    let first = js
        .send_publish(subject.clone(), publish("a", 0))
        .await
        .unwrap()
        .await
        .unwrap();
    assert_eq!((first.sequence, first.duplicate), (1, false));
    js.send_publish(subject.clone(), publish("b", 1))
        .await
        .unwrap()
        .await
        .unwrap();
    let again = js
        .send_publish(subject.clone(), publish("a", 1))
        .await
        .unwrap()
        .await
        .unwrap();
    assert!(again.duplicate, "{again:?}");
    let refused = js
        .send_publish(subject.clone(), publish("c", 1))
        .await
        .unwrap()
        .await;
    assert!(
        refused.is_err(),
        "a wrong expected sequence was taken: {refused:?}"
    );
    delete_streams(&js, &settings).await;
}
