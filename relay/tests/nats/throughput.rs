//! How fast the relay publishes: a backlog, and commit-to-ack latency while following live.
//! Ignored by default (a measurement, not a check); run with
//! `cargo nextest run -p relay --run-ignored only throughput`.

use std::time::{Duration, Instant};

use async_nats::jetstream;
use event_store::EventStore;
use event_store::follower::FollowerMetrics;
use prometheus::core::Metric;
use relay::{Relay, RelayMetrics};
use tokio_util::sync::CancellationToken;

use crate::fixture::{
    delete_streams, fill_log, jetstream_with_stream, nats_url, unique_settings, wait_for_messages,
};

#[sqlx::test(migrator = "event_store::MIGRATOR")]
#[ignore = "a measurement"]
async fn relay_throughput_and_commit_to_ack_latency(pool: sqlx::PgPool) {
    let store = EventStore::postgres(pool);
    let settings = unique_settings();
    let js = jetstream_with_stream(&nats_url(), &settings).await;
    let backlog = fill_log(&store, 200, 100, 20).await;

    let client = relay::connect(&nats_url(), "relay-throughput")
        .await
        .unwrap();
    let metrics = RelayMetrics::new().unwrap();
    let relay = Relay::new(jetstream::new(client), settings.clone(), metrics.clone());
    let follower = relay::follower(store.clone(), relay, FollowerMetrics::new("relay").unwrap());
    let started = Instant::now();
    let read = follower.catch_up().await.unwrap();
    let elapsed = started.elapsed();
    assert_eq!(read, backlog);
    eprintln!(
        "backlog: {backlog} events in {elapsed:?}: {:.0} events/s",
        backlog as f64 / elapsed.as_secs_f64()
    );

    // live: one event per command from 20 writers, while the relay follows
    let live = RelayMetrics::new().unwrap();
    let client = relay::connect(&nats_url(), "relay-live").await.unwrap();
    let relay = Relay::new(jetstream::new(client), settings.clone(), live.clone());
    let follower = relay::follower(store.clone(), relay, FollowerMetrics::new("relay").unwrap());
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(follower.run(shutdown.clone()));
    let writers = (0..20_u64).map(|w| {
        let store = store.clone();
        async move {
            for version in 0..50_u64 {
                let event = [crate::fixture::Happened::Changed { n: version }];
                store
                    .append::<crate::fixture::Order>(
                        &format!("{}", 50_000_000 + w),
                        version,
                        &event,
                        &event_store::EventMetadata::default(),
                    )
                    .await
                    .unwrap();
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    });
    futures::future::join_all(writers).await;
    wait_for_messages(
        &js,
        &settings.stream,
        backlog + 1_000,
        Duration::from_secs(20),
    )
    .await;
    shutdown.cancel();
    running.await.unwrap();
    let histogram = live.commit_to_ack.metric();
    let histogram = histogram.get_histogram();
    let count = histogram.get_sample_count();
    let p99_bucket = histogram
        .get_bucket()
        .iter()
        .find(|bucket| bucket.cumulative_count() as f64 >= 0.99 * count as f64)
        .map(|bucket| bucket.upper_bound());
    let p50_bucket = histogram
        .get_bucket()
        .iter()
        .find(|bucket| bucket.cumulative_count() as f64 >= 0.5 * count as f64)
        .map(|bucket| bucket.upper_bound());
    eprintln!(
        "live: {count} events, commit to ack p50 <= {p50_bucket:?} s, p99 <= {p99_bucket:?} s, mean {:.1} ms",
        histogram.get_sample_sum() / count as f64 * 1_000.0
    );
    delete_streams(&js, &settings).await;
}
