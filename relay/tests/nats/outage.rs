//! A NATS outage while the relay follows the log: it waits, then catches up.

use std::time::{Duration, Instant};

use async_nats::jetstream;
use event_store::EventStore;
use event_store::follower::FollowerMetrics;
use relay::testing::{ThrowawayNats, read_stream};
use relay::{Relay, RelayMetrics};
use tokio_util::sync::CancellationToken;

use crate::fixture::{
    delete_streams, fill_log, jetstream_with_stream, log_order, unique_settings, wait_for_messages,
};
use crate::restart::assert_every_event_once_in_log_order;

#[sqlx::test(migrator = "event_store::MIGRATOR")]
async fn after_a_nats_outage_the_relay_catches_up_with_every_event_once(pool: sqlx::PgPool) {
    let store = EventStore::postgres(pool);
    let mut nats = ThrowawayNats::start_new();
    let settings = unique_settings();
    let js = jetstream_with_stream(&nats.url(), &settings).await;

    let client = relay::connect(&nats.url(), "relay-under-test")
        .await
        .unwrap();
    let relay = Relay::new(
        jetstream::new(client),
        settings.clone(),
        RelayMetrics::new().unwrap(),
    );
    let follower = relay::follower(store.clone(), relay, FollowerMetrics::new("relay").unwrap());
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(follower.run(shutdown.clone()));

    let before = fill_log(&store, 12, 20, 5).await;
    wait_for_messages(&js, &settings.stream, before, Duration::from_secs(10)).await;

    nats.stop();
    // written while NATS is down: commands never wait for it
    let written = Instant::now();
    fill_log_more(&store).await;
    assert!(
        written.elapsed() < Duration::from_secs(5),
        "appending waited for NATS"
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    nats.start();
    let restarted = Instant::now();

    let log = log_order(&store).await;
    let total = log.len() as u64;
    assert!(total > before);
    wait_for_messages(&js, &settings.stream, total, Duration::from_secs(20)).await;
    eprintln!(
        "caught up {} events {:?} after NATS came back",
        total - before,
        restarted.elapsed()
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    shutdown.cancel();
    running.await.unwrap();

    let messages = read_stream(&js, &settings.stream).await;
    assert_every_event_once_in_log_order(&messages, &log);
    delete_streams(&js, &settings).await;
}

/// More events in new streams (the fixture's ids are taken by the first fill).
async fn fill_log_more(store: &EventStore) {
    use crate::fixture::{Happened, Order};
    for i in 0..30_u64 {
        let events = [Happened::Opened { n: 0 }, Happened::Changed { n: 1 }];
        store
            .append::<Order>(
                &format!("{}", 9_000_000 + i * 7),
                0,
                &events,
                &event_store::EventMetadata::default(),
            )
            .await
            .unwrap();
    }
}
