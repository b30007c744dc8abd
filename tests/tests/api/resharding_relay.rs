//! The relay with shards (ADR 43), on three databases in the one server:
//! - one relay publishes every shard's log to the one stream while buyers place and pay and
//!   half of `default`'s genes move to `s3`: each event of every log once (copies are not
//!   published again), each stream's events in their order, and no batch refused;
//! - a move does not switch the writes while the source's relay has not published what the
//!   source holds: the target's relay could otherwise publish a moved stream's next event
//!   before its last one on the source.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use async_nats::jetstream;
use command_api::reshard::{ReshardError, Resharder};
use event_store::{Checkpoint, EventStore, RecordedEvent, gene_of_stream};
use relay::testing::{ThrowawayNats, read_stream};
use shards::{MapStore, ShardName, Step};

use crate::helpers::{SHARDS, TestApp, spawn_sharded_app_with};
use crate::resharding::{
    Acknowledged, Failures, MOVING, RECONCILE_WAIT, buyers_in, catalog, close, load,
    load_after_the_move_then_stop, moving_to_s3, place_and_pay, products, shard_stores,
};

/// Longest the relay may take to publish what the logs hold once the load stops.
const CATCH_UP_LIMIT: Duration = Duration::from_secs(60);

/// How long a move waits for a relay that does not come.
const RELAY_WAIT: Duration = Duration::from_secs(1);

/// The events of every shard's log that were appended there, not copied from another shard.
async fn appended_events(stores: &BTreeMap<ShardName, EventStore>) -> Vec<RecordedEvent> {
    let mut events = Vec::new();
    for store in stores.values() {
        let log = store
            .read_after(Checkpoint::START, 1_000_000)
            .await
            .unwrap();
        events.extend(
            log.into_iter()
                .filter(|e| e.copied_from.is_none())
                .map(|e| RecordedEvent::clone(&e)),
        );
    }
    events
}

/// Waits until the stream holds as many messages as the logs appended events, then checks
/// that each is there once and that every stream's events come in their order.
async fn every_appended_event_is_in_the_stream_once_in_order(
    stores: &BTreeMap<ShardName, EventStore>,
    js: &jetstream::Context,
) -> usize {
    let started = Instant::now();
    // a read of a log may stop short for a moment (another test's transaction ending
    // while it looked, ADR 1): they are read again until they and the stream agree
    let (events, messages) = loop {
        let events = appended_events(stores).await;
        let messages = read_stream(js, "ORDERS").await;
        if messages.len() == events.len() || started.elapsed() > CATCH_UP_LIMIT {
            break (events, messages);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert_eq!(
        messages.len(),
        events.len(),
        "messages in the stream, events appended to the logs"
    );
    let mut ids = HashSet::new();
    let mut versions: BTreeMap<(String, String), u64> = BTreeMap::new();
    for message in &messages {
        let envelope = message.envelope();
        assert!(
            ids.insert(envelope.event_id.clone()),
            "{} published twice",
            envelope.event_id
        );
        let last = versions
            .entry((envelope.aggregate_type.clone(), envelope.aggregate_id))
            .or_insert(0);
        assert_eq!(
            envelope.aggregate_version,
            *last + 1,
            "{} after version {last}",
            envelope.event_id
        );
        *last = envelope.aggregate_version;
    }
    for event in &events {
        let id = relay::event_id(event);
        assert!(ids.contains(&id), "{id} of a log is not in the stream");
    }
    events.len()
}

/// The value of the counter or gauge `name` with labels `labels` in `metrics`, 0 when absent.
fn metric(metrics: &str, name: &str, labels: &str) -> f64 {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{name}{{{labels}}} ")))
        .map_or(0.0, |value| value.trim().parse().unwrap())
}

/// Half of `default`'s genes move to `s3` while clients place and pay on every shard, with
/// the relay on.
pub async fn one_relay_publishes_every_shards_log_once_in_order_through_a_move() {
    let nats = ThrowawayNats::start_new();
    let url = nats.url();
    let app = Arc::new(
        spawn_sharded_app_with(move |settings| {
            settings.nats_url = Some(url);
        })
        .await,
    );
    let skus = products(&app).await;
    let mut buyers = buyers_in("mover", &MOVING, 6);
    buyers.extend(buyers_in("stayer", &(171..=1023), 6));
    let (acknowledged, failures) = (Acknowledged::default(), Failures::default());
    let stop = Arc::new(AtomicBool::new(false));
    let clients = load(&app, &buyers, &skus, &stop, &acknowledged, &failures);
    tokio::time::sleep(Duration::from_secs(2)).await;

    let stores = shard_stores(&app).await;
    let request = moving_to_s3();
    let job = Resharder::new(catalog(&stores), &stores, RECONCILE_WAIT)
        .run(Some(&request), None, &mut |_| {})
        .await
        .unwrap();
    assert_eq!(job.step, Step::Done);
    load_after_the_move_then_stop(&stop, clients, &failures).await;
    let moved = acknowledged
        .lock()
        .unwrap()
        .iter()
        .filter(|(id, _)| MOVING.contains(&gene_of_stream("Order", id)))
        .count();
    assert!(moved > 4, "only {moved} orders on the moving genes");
    app.read_side_settled().await;

    let js = jetstream::new(async_nats::connect(nats.url()).await.unwrap());
    let published = every_appended_event_is_in_the_stream_once_in_order(&stores, &js).await;
    assert!(published > 100, "{published}");
    let metrics = app.metrics_with("relay_published_total").await;
    let failed: Vec<&str> = metrics
        .lines()
        .filter(|line| line.starts_with("relay_failures_total{") && !line.ends_with(" 0"))
        .collect();
    assert!(
        failed.is_empty(),
        "a batch was refused: the stream has more than one publisher: {failed:?}"
    );
    // the one relay's follower of each shard counts its own shard's events
    for shard in ["default", SHARDS[0], SHARDS[1]] {
        let labels = format!("relay=\"relay\",shard=\"{shard}\"");
        let handled = metric(&metrics, "relay_events_applied_total", &labels);
        assert!(handled > 0.0, "{labels}: {handled}\n{metrics}");
    }
    close(stores).await;
    let app = Arc::into_inner(app).unwrap();
    app.stop().await;
}

/// Marks the relay of `store` as having published up to its head, every few milliseconds,
/// until `stop`: a relay that keeps up, without NATS.
fn a_relay_keeping_up(store: EventStore, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while !stop.load(Ordering::Relaxed) {
            let head = store.head().await.unwrap();
            store
                .save_checkpoint(relay::RELAY_NAME, head)
                .await
                .unwrap();
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
}

/// The source's relay has published nothing of its log: the move stops before switching the
/// writes, with the source's fences lifted (its genes' commands go on there); once the relay
/// keeps up, the move completes.
pub async fn a_move_waits_for_the_source_relay_before_switching_writes(app: TestApp) {
    let skus = products(&app).await;
    let buyers = buyers_in("mover", &MOVING, 3);
    let (acknowledged, failures) = (Acknowledged::default(), Failures::default());
    for (n, buyer) in buyers.iter().enumerate() {
        place_and_pay(&app, buyer, &skus[n % 3], &acknowledged, &failures).await;
    }
    let stores = shard_stores(&app).await;
    let source = stores[&ShardName::default_shard()].clone();
    // a relay that ran once and is far behind
    source
        .save_checkpoint(relay::RELAY_NAME, Checkpoint::START)
        .await
        .unwrap();
    let catalog = catalog(&stores);
    let request = moving_to_s3();
    let resharder = Resharder::new(catalog.clone(), &stores, RECONCILE_WAIT).relay_wait(RELAY_WAIT);
    let stopped = resharder.run(Some(&request), None, &mut |_| {}).await;
    assert!(
        matches!(stopped, Err(ReshardError::RelayBehind { .. })),
        "{stopped:?}"
    );
    let map = MapStore::new(catalog.clone()).newest().await.unwrap();
    assert_eq!(
        map.assignment(*MOVING.start()).write,
        ShardName::default_shard()
    );
    // the fence is lifted: a moving gene's order is placed and paid on the source at once
    place_and_pay(&app, &buyers[0], &skus[0], &acknowledged, &failures).await;
    assert!(
        failures.lock().unwrap().is_empty(),
        "{:#?}",
        failures.lock().unwrap()
    );

    let stop = Arc::new(AtomicBool::new(false));
    let relay = a_relay_keeping_up(source, Arc::clone(&stop));
    let job = resharder.run(None, None, &mut |_| {}).await.unwrap();
    assert_eq!(job.step, Step::Done);
    stop.store(true, Ordering::Relaxed);
    relay.await.unwrap();
    let map = MapStore::new(catalog).newest().await.unwrap();
    assert_eq!(map.assignment(*MOVING.start()).write, request.target);
    close(stores).await;
    app.stop().await;
}
