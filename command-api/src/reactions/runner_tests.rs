//! When the runner saves a reaction's checkpoint, on a SQLite store.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use domain::{Cart, CartEvent, CartItemRemoved, SkuId};
use event_store::follower::FollowerMetrics;
use event_store::{Checkpoint, EventMetadata, EventStore, RecordedEvent};
use tokio_util::sync::CancellationToken;

use super::runner::{Reaction, run};

/// A reaction that records the checkpoint of every event it handles.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<Checkpoint>>>);

impl Reaction for Seen {
    fn name(&self) -> &'static str {
        "seen"
    }

    async fn react(
        &self,
        event: &RecordedEvent,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        self.0.lock().unwrap().push(event.checkpoint());
        Ok(())
    }
}

/// A migrated SQLite store in a directory of its own (dropped with the directory).
pub(super) async fn store() -> (EventStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("events.db").display());
    let store = EventStore::connect(&url).await.unwrap();
    crate::migrations::run(&store).await.unwrap();
    (store, dir)
}

/// Appends one event to a cart at `version`; answers with its checkpoint.
async fn append(store: &EventStore, version: u64) -> Checkpoint {
    let removed = CartEvent::CartItemRemoved(CartItemRemoved {
        sku: SkuId::parse("sku-1").unwrap(),
        at: Utc::now(),
    });
    store
        .append::<Cart>("b-1", version, &[removed], &EventMetadata::default())
        .await
        .unwrap();
    let stream = store.read_stream("Cart", "b-1").await.unwrap();
    stream.last().unwrap().checkpoint()
}

/// Waits until `check` holds (or panics after 5 s).
async fn eventually(mut check: impl AsyncFnMut() -> bool) {
    for _ in 0..1_000 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("the condition did not hold within 5 s");
}

/// The reactions' metrics, registered nowhere.
fn metrics() -> FollowerMetrics {
    FollowerMetrics::new("reaction").unwrap()
}

async fn saved_at(store: &EventStore, at: Checkpoint) {
    eventually(async || store.load_checkpoint("seen").await.unwrap() == at).await;
}

/// Events handled within the save interval after a save are saved when it is up, even
/// when no event follows them.
#[tokio::test]
async fn a_reaction_saves_what_it_handled_when_no_event_follows() {
    let (store, _dir) = store().await;
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(run(
        store.clone(),
        Seen::default(),
        metrics(),
        shutdown.clone(),
    ));
    let first = append(&store, 0).await;
    saved_at(&store, first).await;
    let second = append(&store, 1).await;
    saved_at(&store, second).await;
    shutdown.cancel();
    running.await.unwrap();
}

/// A reaction that stops saves what it handled, so that a restart does not handle it again.
#[tokio::test]
async fn a_stopping_reaction_saves_what_it_handled() {
    let (store, _dir) = store().await;
    let shutdown = CancellationToken::new();
    let seen = Seen::default();
    let running = tokio::spawn(run(
        store.clone(),
        seen.clone(),
        metrics(),
        shutdown.clone(),
    ));
    let first = append(&store, 0).await;
    saved_at(&store, first).await;
    let second = append(&store, 1).await;
    eventually(async || seen.0.lock().unwrap().contains(&second)).await;
    shutdown.cancel();
    running.await.unwrap();
    assert_eq!(store.load_checkpoint("seen").await.unwrap(), second);
}

/// The lag gauge shows the events a reaction has yet to read, and falls to zero once it has
/// read them.
#[tokio::test]
async fn the_lag_gauge_counts_what_the_reaction_has_yet_to_read() {
    let (store, _dir) = store().await;
    for version in 0..3 {
        append(&store, version).await;
    }
    let metrics = metrics();
    let gauge = metrics
        .lag_events
        .with_label_values(&metrics.labels("seen"));
    gauge.set(-1);
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(run(
        store.clone(),
        Seen::default(),
        metrics.clone(),
        shutdown.clone(),
    ));
    eventually(async || gauge.get() == 3).await;
    eventually(async || gauge.get() == 0).await;
    shutdown.cancel();
    running.await.unwrap();
}

/// A reaction that refuses chosen events until they are allowed.
#[derive(Clone, Default)]
struct Picky {
    seen: Arc<Mutex<Vec<Checkpoint>>>,
    refused: Arc<Mutex<Vec<Checkpoint>>>,
}

impl Reaction for Picky {
    fn name(&self) -> &'static str {
        "picky"
    }

    async fn react(
        &self,
        event: &RecordedEvent,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        if self.refused.lock().unwrap().contains(&event.checkpoint()) {
            return Err("refused on purpose".into());
        }
        self.seen.lock().unwrap().push(event.checkpoint());
        Ok(())
    }
}

/// An event that always fails is parked as a dead letter after the attempts allowed, and the
/// reaction goes on with the events after it; asked to, it runs the parked event again, and
/// once that succeeds the dead letter is gone.
#[tokio::test]
async fn an_event_that_always_fails_is_parked_and_the_reaction_goes_on() {
    const ATTEMPTS: u32 = 3;
    let (store, _dir) = store().await;
    let first = append(&store, 0).await;
    let bad = append(&store, 1).await;
    let last = append(&store, 2).await;
    let picky = Picky::default();
    picky.refused.lock().unwrap().push(bad);
    let metrics = metrics();
    let shutdown = CancellationToken::new();
    let follower = super::runner::follower(store.clone(), picky.clone(), metrics.clone(), ATTEMPTS);
    let running = tokio::spawn(follower.run(shutdown.clone()));

    eventually(async || picky.seen.lock().unwrap().contains(&last)).await;
    // at least once: the batch's events before the bad one may be handled again
    let seen = picky.seen.lock().unwrap().clone();
    assert!(seen.contains(&first) && !seen.contains(&bad), "{seen:?}");
    let parked = store.dead_letters(Some("picky"), false).await.unwrap();
    assert_eq!(parked.len(), 1, "{parked:?}");
    assert_eq!(parked[0].checkpoint, bad);
    assert_eq!(parked[0].attempts, u64::from(ATTEMPTS));
    assert!(
        parked[0].error.contains("refused on purpose"),
        "{}",
        parked[0].error
    );
    assert_eq!(
        metrics
            .dead_letters
            .with_label_values(&metrics.labels("picky"))
            .get(),
        1
    );

    picky.refused.lock().unwrap().clear();
    assert!(store.request_retry(parked[0].id).await.unwrap());
    eventually(async || picky.seen.lock().unwrap().contains(&bad)).await;
    eventually(async || store.dead_letters(None, false).await.unwrap().is_empty()).await;
    shutdown.cancel();
    running.await.unwrap();
}

/// Each event handled, and when.
type Handled = Vec<(Checkpoint, chrono::DateTime<Utc>)>;

/// A reaction that lingers, recording when it handled each event.
#[derive(Clone, Default)]
struct Lingering(Arc<Mutex<Handled>>);

impl Reaction for Lingering {
    fn name(&self) -> &'static str {
        "lingering"
    }

    const LINGER: Duration = Duration::from_millis(300);

    async fn react(
        &self,
        event: &RecordedEvent,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        self.0
            .lock()
            .unwrap()
            .push((event.checkpoint(), Utc::now()));
        Ok(())
    }
}

/// A lingering reaction handles a batch only once its newest event is as old as the linger,
/// and what committed meanwhile comes in its next batch.
#[tokio::test]
async fn a_lingering_reaction_handles_an_event_no_sooner_than_its_linger() {
    let (store, _dir) = store().await;
    let lingering = Lingering::default();
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(run(
        store.clone(),
        lingering.clone(),
        metrics(),
        shutdown.clone(),
    ));
    let first = append(&store, 0).await;
    let second = append(&store, 1).await;
    eventually(async || {
        lingering
            .0
            .lock()
            .unwrap()
            .iter()
            .any(|(c, _)| *c == second)
    })
    .await;
    shutdown.cancel();
    running.await.unwrap();
    let recorded: Vec<_> = store.read_stream("Cart", "b-1").await.unwrap();
    for (checkpoint, handled_at) in lingering.0.lock().unwrap().iter() {
        let event = recorded
            .iter()
            .find(|e| e.checkpoint() == *checkpoint)
            .unwrap();
        assert!(
            *handled_at - event.recorded_at >= chrono::Duration::milliseconds(300),
            "{checkpoint:?} handled {} after it was recorded",
            *handled_at - event.recorded_at
        );
    }
    let handled: Vec<Checkpoint> = lingering
        .0
        .lock()
        .unwrap()
        .iter()
        .map(|(c, _)| *c)
        .collect();
    assert!(handled.contains(&first), "{handled:?}");
}
