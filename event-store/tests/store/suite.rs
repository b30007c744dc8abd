//! The conformance suite: every backend must pass each of these unchanged.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use cqrs_es::persist::SemanticVersionEventUpcaster;
use event_store::{AppendError, Checkpoint, EventMetadata, RecordedEvent, Subscription};
use futures::future::join_all;
use serde_json::json;

use crate::counter::{Counter, CounterEvent, added};
use crate::harness::Harness;
pub use crate::leases::{
    a_lease_has_one_holder_until_it_expires, a_released_lease_is_taken_at_once,
};

const WAIT_MS: u64 = 10_000;

fn meta(key: &str) -> EventMetadata {
    EventMetadata {
        dedup_key: Some(key.to_owned()),
        actor: Some("buyer:42".to_owned()),
        correlation_id: Some("corr-1".to_owned()),
        causation_id: Some("cause-1".to_owned()),
        request_id: Some("req-1".to_owned()),
        request_digest: Some("digest-1".to_owned()),
    }
}

/// Reads from `sub` until `count` events arrived (or panics after WAIT_MS).
async fn collect(sub: &mut Subscription, count: usize) -> Vec<Arc<RecordedEvent>> {
    let mut events = Vec::new();
    while events.len() < count {
        let batch = tokio::time::timeout(Duration::from_millis(WAIT_MS), sub.next_batch())
            .await
            .expect("subscription delivered too few events")
            .unwrap();
        events.extend(batch);
    }
    assert_eq!(
        events.len(),
        count,
        "subscription delivered too many events"
    );
    events
}

/// Reads from `sub` until `count` events arrived or `ms` passed, and returns what arrived.
async fn collect_within(sub: &mut Subscription, count: usize, ms: u64) -> Vec<Arc<RecordedEvent>> {
    let mut events = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_millis(ms);
    while events.len() < count {
        match tokio::time::timeout_at(deadline, sub.next_batch()).await {
            Ok(batch) => events.extend(batch.unwrap()),
            Err(_) => break,
        }
    }
    events
}

pub async fn append_load_round_trip(h: Harness) {
    let store = h.store();
    let appended = store
        .append::<Counter>("c-1", 0, &[added(2), added(3)], &meta("k-1"))
        .await
        .unwrap();
    assert_eq!(appended.version, 2);
    let appended = store
        .append::<Counter>("c-1", 2, &[added(5)], &EventMetadata::default())
        .await
        .unwrap();
    assert_eq!(appended.version, 3);

    let loaded = store.load::<Counter>("c-1").await.unwrap();
    assert_eq!(loaded.aggregate.total, 10);
    assert_eq!(loaded.version, 3);
    let missing = store.load::<Counter>("nobody").await.unwrap();
    assert_eq!((missing.aggregate.total, missing.version), (0, 0));

    let events = store.read_stream("Counter", "c-1").await.unwrap();
    assert_eq!(
        events.iter().map(|e| e.sequence).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert_eq!(events[0].metadata, meta("k-1"));
    assert_eq!(events[1].metadata, meta("k-1"));
    assert_eq!(events[2].metadata, EventMetadata::default());
    assert_eq!(events[0].decode::<CounterEvent>().unwrap(), added(2));
    assert!(events.windows(2).all(|w| w[0].position < w[1].position));
    let age = chrono::Utc::now() - events[0].recorded_at;
    assert!(age.num_seconds().abs() < 60, "recorded_at is now: {age}");
}

pub async fn concurrent_appends_at_the_same_version_exactly_one_wins(h: Harness) {
    let store = h.store();
    store
        .append::<Counter>("c-1", 0, &[added(1)], &EventMetadata::default())
        .await
        .unwrap();
    let results = join_all((0..8).map(|i| {
        let store = store.clone();
        async move {
            store
                .append::<Counter>("c-1", 1, &[added(10 + i)], &EventMetadata::default())
                .await
        }
    }))
    .await;
    let wins = results.iter().filter(|r| r.is_ok()).count();
    let conflicts = results
        .iter()
        .filter(|r| matches!(r, Err(AppendError::Conflict { .. })))
        .count();
    assert_eq!((wins, conflicts), (1, 7), "{results:?}");
    assert_eq!(store.load::<Counter>("c-1").await.unwrap().version, 2);
}

pub async fn a_reused_dedup_key_appends_nothing_and_finds_the_original(h: Harness) {
    let store = h.store();
    store
        .append::<Counter>("c-1", 0, &[added(1), added(2)], &meta("pay-1"))
        .await
        .unwrap();

    let again = store
        .append::<Counter>("c-1", 2, &[added(100)], &meta("pay-1"))
        .await
        .unwrap_err();
    let AppendError::Duplicate {
        dedup_key,
        original,
    } = again
    else {
        panic!("expected a duplicate, got {again:?}");
    };
    assert_eq!(dedup_key, "pay-1");
    assert_eq!(
        original
            .iter()
            .map(|e| e.decode::<CounterEvent>().unwrap())
            .collect::<Vec<_>>(),
        [added(1), added(2)]
    );
    let loaded = store.load::<Counter>("c-1").await.unwrap();
    assert_eq!((loaded.aggregate.total, loaded.version), (3, 2));

    // the same key in another stream is another command
    store
        .append::<Counter>("c-2", 0, &[added(7)], &meta("pay-1"))
        .await
        .unwrap();
    assert!(
        store
            .find_command("Counter", "c-1", "pay-404")
            .await
            .unwrap()
            .is_none()
    );
}

pub async fn concurrent_duplicates_are_duplicates_not_conflicts(h: Harness) {
    let store = h.store();
    let results = join_all((0..8).map(|_| {
        let store = store.clone();
        async move {
            store
                .append::<Counter>("c-1", 0, &[added(1), added(1)], &meta("click-1"))
                .await
        }
    }))
    .await;
    let wins = results.iter().filter(|r| r.is_ok()).count();
    let duplicates = results
        .iter()
        .filter(
            |r| matches!(r, Err(AppendError::Duplicate { original, .. }) if original.len() == 2),
        )
        .count();
    assert_eq!((wins, duplicates), (1, 7), "{results:?}");
    assert_eq!(
        store.load::<Counter>("c-1").await.unwrap().aggregate.total,
        2
    );
}

pub async fn a_stale_version_with_a_new_dedup_key_is_a_conflict(h: Harness) {
    let store = h.store();
    store
        .append::<Counter>("c-1", 0, &[added(1)], &meta("a"))
        .await
        .unwrap();
    let stale = store
        .append::<Counter>("c-1", 0, &[added(1)], &meta("b"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            stale,
            AppendError::Conflict {
                expected_version: 0,
                ..
            }
        ),
        "{stale:?}"
    );
}

/// The ordering invariant: an event whose transaction started earlier but commits later than
/// a higher-positioned one must not be skipped by a reader that already saw the later one.
pub async fn the_subscription_waits_for_an_earlier_writer_instead_of_skipping_it(h: Harness) {
    let store = h.store();
    let mut sub = store.subscribe(Checkpoint::START, 100).await.unwrap();

    // writer A inserts first and keeps its transaction open
    let held = h
        .hold_writer("early", 1, "2.0", json!({"Added": {"amount": 1}}))
        .await;
    // writer B appends after it (on SQLite it has to wait for A's write lock)
    let later = tokio::spawn({
        let store = store.clone();
        async move {
            store
                .append::<Counter>("late", 0, &[added(2)], &EventMetadata::default())
                .await
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let read_while_open = sub.try_next_batch().await.unwrap().unwrap_or_default();

    held.commit().await;
    later.await.unwrap().unwrap();
    let mut events = read_while_open.clone();
    events.extend(collect_within(&mut sub, 2 - events.len().min(2), 3_000).await);
    assert_eq!(
        events
            .iter()
            .map(|e| e.aggregate_id.as_str())
            .collect::<Vec<_>>(),
        ["early", "late"],
        "the reader skipped or reordered an event"
    );
    assert!(
        read_while_open.is_empty(),
        "nothing may be read while an earlier writer is open"
    );
}

pub async fn concurrent_writers_are_read_once_each_in_stream_order(h: Harness) {
    const WRITERS: u64 = 6;
    const APPENDS: u64 = 25;
    let store = h.store();
    let mut sub = store.subscribe(Checkpoint::START, 7).await.unwrap();
    let writers = (0..WRITERS).map(|w| {
        let store = store.clone();
        tokio::spawn(async move {
            for n in 0..APPENDS {
                // two writers share each stream, so they also race on versions
                let id = format!("s-{}", w % 3);
                loop {
                    let version = store.load::<Counter>(&id).await.unwrap().version;
                    let events = [added(w * 1000 + n), added(1)];
                    match store
                        .append::<Counter>(&id, version, &events, &EventMetadata::default())
                        .await
                    {
                        Ok(_) => break,
                        Err(AppendError::Conflict { .. }) => continue,
                        Err(other) => panic!("{other}"),
                    }
                }
            }
        })
    });
    let reader =
        tokio::spawn(async move { collect(&mut sub, (WRITERS * APPENDS * 2) as usize).await });
    for writer in writers {
        writer.await.unwrap();
    }
    let events = reader.await.unwrap();

    let mut positions: Vec<i64> = events.iter().map(|e| e.position).collect();
    positions.sort_unstable();
    positions.dedup();
    assert_eq!(
        positions.len(),
        events.len(),
        "an event was delivered twice"
    );
    let mut next_sequence: HashMap<&str, u64> = HashMap::new();
    for event in &events {
        let expected = next_sequence.entry(&event.aggregate_id).or_insert(1);
        assert_eq!(
            event.sequence, *expected,
            "stream order broken at {event:?}"
        );
        *expected += 1;
    }
}

pub async fn a_subscription_resumes_from_its_checkpoint_after_a_restart(h: Harness) {
    let store = h.store();
    for n in 0..5 {
        store
            .append::<Counter>("c-1", n, &[added(n)], &EventMetadata::default())
            .await
            .unwrap();
    }
    // batches of one, so the reader stops exactly after the third event
    let mut sub = store.subscribe(Checkpoint::START, 1).await.unwrap();
    let first = collect(&mut sub, 3).await;
    let saved = first[2].checkpoint();
    assert_eq!(sub.checkpoint(), saved);
    drop(sub);

    let restarted = h.reopen().await;
    restarted
        .append::<Counter>("c-1", 5, &[added(5)], &EventMetadata::default())
        .await
        .unwrap();
    let mut sub = restarted.subscribe(saved, 100).await.unwrap();
    let rest = collect(&mut sub, 3).await;
    assert_eq!(
        rest.iter().map(|e| e.sequence).collect::<Vec<_>>(),
        [4, 5, 6]
    );
}

pub async fn a_waiting_subscription_wakes_on_a_new_commit(h: Harness) {
    let store = h.store();
    let mut sub = store.subscribe(Checkpoint::START, 10).await.unwrap();
    let reader = tokio::spawn(async move { collect(&mut sub, 1).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    store
        .append::<Counter>("c-1", 0, &[added(1)], &EventMetadata::default())
        .await
        .unwrap();
    let events = reader.await.unwrap();
    assert_eq!(events[0].aggregate_id, "c-1");
}

pub async fn an_old_event_version_is_upcast_on_read(h: Harness) {
    // version 1.0 of `Added` had no amount: every event added one
    h.insert_raw("c-1", 1, "1.0", json!({"Added": {}})).await;
    let store =
        h.store()
            .clone()
            .with_upcasters(vec![Box::new(SemanticVersionEventUpcaster::new(
                "Added",
                "2.0",
                Box::new(|_| json!({"Added": {"amount": 1}})),
            ))]);
    store
        .append::<Counter>("c-1", 1, &[added(5)], &EventMetadata::default())
        .await
        .unwrap();

    let loaded = store.load::<Counter>("c-1").await.unwrap();
    assert_eq!((loaded.aggregate.total, loaded.version), (6, 2));
    let events = store.read_stream("Counter", "c-1").await.unwrap();
    // SemanticVersionEventUpcaster writes the version it upcast to as major.minor.patch
    assert_eq!(events[0].event_version, "2.0.0");
    assert_eq!(events[0].decode::<CounterEvent>().unwrap(), added(1));
    let mut sub = store.subscribe(Checkpoint::START, 10).await.unwrap();
    let read = collect(&mut sub, 2).await;
    assert_eq!(read[0].decode::<CounterEvent>().unwrap(), added(1));
    let head = eventually_head(&store, read[1].checkpoint()).await;
    let page = store
        .read_streams_pages("Counter", head, 10)
        .await
        .unwrap()
        .next_page()
        .await
        .unwrap();
    assert_eq!(page[0].event_version, "2.0.0");
    assert_eq!(page[0].decode::<CounterEvent>().unwrap(), added(1));
    assert_eq!(page[1].decode::<CounterEvent>().unwrap(), added(5));
    // the log itself is never rewritten
    let raw = h.store().read_stream("Counter", "c-1").await.unwrap();
    assert_eq!(raw[0].event_version, "1.0");
}

pub async fn a_named_checkpoint_survives_a_restart(h: Harness) {
    let store = h.store();
    assert_eq!(
        store.load_checkpoint("reactor").await.unwrap(),
        Checkpoint::START
    );
    let at = Checkpoint {
        txid: 1234,
        position: 56,
    };
    store.save_checkpoint("reactor", at).await.unwrap();
    let later = Checkpoint {
        txid: 1300,
        position: 60,
    };
    store.save_checkpoint("reactor", later).await.unwrap();
    store.save_checkpoint("another", at).await.unwrap();
    let restarted = h.reopen().await;
    assert_eq!(restarted.load_checkpoint("reactor").await.unwrap(), later);
    assert_eq!(
        restarted.checkpoints().await.unwrap(),
        vec![("another".to_owned(), at), ("reactor".to_owned(), later)]
    );
    assert_eq!(
        restarted.load_checkpoint("other").await.unwrap(),
        Checkpoint::START
    );
}

pub async fn catching_up_applies_only_what_was_appended_since(h: Harness) {
    let store = h.store();
    store
        .append::<Counter>("c-1", 0, &[added(1), added(2)], &EventMetadata::default())
        .await
        .unwrap();
    let mut loaded = store.load::<Counter>("c-1").await.unwrap();
    store.catch_up("c-1", &mut loaded).await.unwrap();
    assert_eq!(
        (loaded.aggregate.total, loaded.version),
        (3, 2),
        "nothing new"
    );
    // another process appends
    h.reopen()
        .await
        .append::<Counter>("c-1", 2, &[added(10)], &EventMetadata::default())
        .await
        .unwrap();
    store.catch_up("c-1", &mut loaded).await.unwrap();
    assert_eq!((loaded.aggregate.total, loaded.version), (13, 3));
}

pub async fn several_streams_load_in_one_read_as_each_alone(h: Harness) {
    let store = h.store();
    store
        .append::<Counter>("c-1", 0, &[added(1), added(2)], &EventMetadata::default())
        .await
        .unwrap();
    store
        .append::<Counter>("c-2", 0, &[added(10)], &EventMetadata::default())
        .await
        .unwrap();
    let many = store
        .load_many::<Counter>(&["c-2", "none", "c-1"])
        .await
        .unwrap();
    let mut found: Vec<_> = many
        .iter()
        .map(|(id, loaded)| (id.as_str(), loaded.aggregate.total, loaded.version))
        .collect();
    found.sort_unstable();
    assert_eq!(found, [("c-1", 3, 2), ("c-2", 10, 1)]);
}

pub async fn a_rebuild_reads_every_stream_once_up_to_the_head(h: Harness) {
    let store = h.store();
    assert_eq!(store.head().await.unwrap(), Checkpoint::START);
    for (id, version, amounts) in [
        ("c-2", 0, vec![1, 2]),
        ("c-1", 0, vec![3]),
        ("c-3", 0, vec![4]),
        ("c-1", 1, vec![5, 6]),
        ("c-2", 2, vec![7]),
    ] {
        let events: Vec<_> = amounts.into_iter().map(added).collect();
        store
            .append::<Counter>(id, version, &events, &EventMetadata::default())
            .await
            .unwrap();
    }
    // the head reaches the last event once no transaction of the cluster older than it runs
    // (other tests' databases share the transaction horizon, ADR 1)
    let mut last = Checkpoint::START;
    for id in ["c-1", "c-2", "c-3"] {
        for event in store.read_stream("Counter", id).await.unwrap() {
            last = last.max(event.checkpoint());
        }
    }
    let head = eventually_head(store, last).await;

    // an open writer, and on PostgreSQL a later one that commits, leave the head where it is
    let held = h
        .hold_writer("c-0", 1, "2.0", json!({"Added": {"amount": 8}}))
        .await;
    if store.backend_name() == "postgres" {
        store
            .append::<Counter>("c-4", 0, &[added(9)], &EventMetadata::default())
            .await
            .unwrap();
    }
    assert_eq!(eventually_head(store, head).await, head);
    // the newest committed event is past it: c-4 on PostgreSQL; on SQLite the held writer
    // holds every other one back
    let committed = if store.backend_name() == "postgres" {
        store.read_stream("Counter", "c-4").await.unwrap()[0].checkpoint()
    } else {
        head
    };
    assert_eq!(store.last_committed().await.unwrap(), committed);

    // pages of two, up to the head: each stream whole and in sequence, nothing after the head
    let read_up_to = |upto: Checkpoint| {
        let store = store.clone();
        async move {
            let mut read = Vec::new();
            let mut pages = store.read_streams_pages("Counter", upto, 2).await.unwrap();
            loop {
                let page = pages.next_page().await.unwrap();
                if page.is_empty() {
                    break;
                }
                assert!(page.len() <= 2);
                read.extend(page.iter().map(|e| (e.aggregate_id.clone(), e.sequence)));
            }
            // the end stays the end
            assert!(pages.next_page().await.unwrap().is_empty());
            read
        }
    };
    let expected = |ids: &[(&str, u64)]| -> Vec<(String, u64)> {
        ids.iter()
            .map(|(id, seq)| ((*id).to_owned(), *seq))
            .collect()
    };
    assert_eq!(
        read_up_to(head).await,
        expected(&[
            ("c-1", 1),
            ("c-1", 2),
            ("c-1", 3),
            ("c-2", 1),
            ("c-2", 2),
            ("c-2", 3),
            ("c-3", 1),
        ])
    );
    held.commit().await;
    let mut last = head;
    for id in ["c-0", "c-4"] {
        for event in store.read_stream("Counter", id).await.unwrap() {
            last = last.max(event.checkpoint());
        }
    }
    let head = eventually_head(store, last).await;
    assert_eq!(store.last_committed().await.unwrap(), head);
    assert_eq!(
        read_up_to(head).await.len(),
        8 + usize::from(store.backend_name() == "postgres")
    );
    assert_eq!(read_up_to(head).await[0], ("c-0".to_owned(), 1));
}

pub async fn pending_counts_what_a_reader_would_read_without_reading_it(h: Harness) {
    let store = h.store();
    let none = store.pending(Checkpoint::START, 10).await.unwrap();
    assert_eq!((none.events, none.oldest), (0, None));
    store
        .append::<Counter>("c-1", 0, &[added(1), added(2)], &EventMetadata::default())
        .await
        .unwrap();
    store
        .append::<Counter>("c-2", 0, &[added(3)], &EventMetadata::default())
        .await
        .unwrap();
    // on PostgreSQL other tests' transactions may hold the events back for a moment
    let deadline = tokio::time::Instant::now() + Duration::from_millis(WAIT_MS);
    let events = loop {
        let events = store.read_after(Checkpoint::START, 10).await.unwrap();
        if events.len() == 3 {
            break events;
        }
        assert!(tokio::time::Instant::now() < deadline, "{events:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let oldest = events.iter().map(|e| e.recorded_at).min();

    let all = store.pending(Checkpoint::START, 10).await.unwrap();
    assert_eq!((all.events, all.oldest), (3, oldest));
    assert_eq!(store.pending(Checkpoint::START, 2).await.unwrap().events, 2);
    let after_first = store.pending(events[0].checkpoint(), 10).await.unwrap();
    assert_eq!(after_first.events, 2);
    let caught_up = store.pending(events[2].checkpoint(), 10).await.unwrap();
    assert_eq!((caught_up.events, caught_up.oldest), (0, None));
}

/// The store's head once it has reached `last` (or panics after WAIT_MS).
async fn eventually_head(store: &event_store::EventStore, last: Checkpoint) -> Checkpoint {
    let deadline = tokio::time::Instant::now() + Duration::from_millis(WAIT_MS);
    loop {
        let head = store.head().await.unwrap();
        assert!(
            head <= last,
            "the head {head:?} is past the last event {last:?}"
        );
        if head == last {
            return head;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the head stayed at {head:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Appends one `Added` event per amount to `id`, as one command at `version`.
async fn append_added(
    store: &event_store::EventStore,
    id: &str,
    version: u64,
    amounts: impl Iterator<Item = u64>,
) {
    let events: Vec<CounterEvent> = amounts.map(added).collect();
    store
        .append::<Counter>(id, version, &events, &EventMetadata::default())
        .await
        .unwrap();
}

/// Subscriptions of one process at the same place share one read of the log: the first reads
/// it, the others are served from memory (here with the database closed after the first read).
pub async fn subscriptions_at_one_checkpoint_share_one_read(h: Harness) {
    let store = h.store();
    append_added(store, "c-1", 0, 1..=10).await;
    let mut subs = Vec::new();
    for _ in 0..3 {
        subs.push(store.subscribe(Checkpoint::START, 100).await.unwrap());
    }
    let first = collect(&mut subs[0], 10).await;
    assert_eq!(first.len(), 10);
    h.close();
    for sub in &mut subs[1..] {
        let served = sub.try_next_batch().await.unwrap().unwrap();
        assert_eq!(
            served.iter().map(|e| e.position).collect::<Vec<_>>(),
            first.iter().map(|e| e.position).collect::<Vec<_>>()
        );
        // served the very events the first read, not copies of them
        assert!(served.iter().zip(&first).all(|(s, f)| Arc::ptr_eq(s, f)));
        assert_eq!(sub.checkpoint(), first[9].checkpoint());
    }
}

/// Subscriptions at different paces, reading while writers append, each get every event once,
/// all in the same order.
pub async fn subscriptions_at_different_paces_read_the_same_log(h: Harness) {
    const WRITERS: u64 = 4;
    const APPENDS: u64 = 30;
    let total = (WRITERS * APPENDS * 2) as usize;
    let store = h.store();
    let mut readers = Vec::new();
    for batch_size in [1, 7, 100, 1_000] {
        let mut sub = store
            .subscribe(Checkpoint::START, batch_size)
            .await
            .unwrap();
        readers.push(tokio::spawn(async move { collect(&mut sub, total).await }));
    }
    let writers = (0..WRITERS).map(|w| {
        let store = store.clone();
        tokio::spawn(async move {
            let id = format!("s-{w}");
            for n in 0..APPENDS {
                store
                    .append::<Counter>(&id, n * 2, &[added(n), added(1)], &EventMetadata::default())
                    .await
                    .unwrap();
            }
        })
    });
    for writer in writers {
        writer.await.unwrap();
    }
    let mut orders = Vec::new();
    for reader in readers {
        let events = reader.await.unwrap();
        orders.push(events.iter().map(|e| e.position).collect::<Vec<_>>());
    }
    let mut late = store.subscribe(Checkpoint::START, 50).await.unwrap();
    let late = collect(&mut late, total).await;
    orders.push(late.iter().map(|e| e.position).collect());
    let mut distinct = orders[0].clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), total, "an event was delivered twice");
    for order in &orders[1..] {
        assert_eq!(order, &orders[0], "two subscriptions read different logs");
    }
}

/// A subscription far behind the others (a projection being rebuilt) reads the log itself
/// until it reaches the part the others share, then joins them, skipping nothing.
pub async fn a_subscription_behind_the_shared_part_reads_up_to_it(h: Harness) {
    const EVENTS: u64 = 6_000;
    let store = h.store();
    for command in 0..EVENTS / 100 {
        append_added(
            store,
            "c-1",
            command * 100,
            (0..100).map(|n| command * 100 + n),
        )
        .await;
    }
    let mut ahead = store.subscribe(Checkpoint::START, 1_000).await.unwrap();
    let ahead_events = collect(&mut ahead, EVENTS as usize).await;
    let mut behind = store.subscribe(Checkpoint::START, 1_000).await.unwrap();
    let behind_events = collect(&mut behind, EVENTS as usize).await;
    assert_eq!(
        behind_events.iter().map(|e| e.sequence).collect::<Vec<_>>(),
        (1..=EVENTS).collect::<Vec<_>>()
    );
    assert_eq!(
        behind_events.iter().map(|e| e.position).collect::<Vec<_>>(),
        ahead_events.iter().map(|e| e.position).collect::<Vec<_>>()
    );
    store
        .append::<Counter>("c-1", EVENTS, &[added(1)], &EventMetadata::default())
        .await
        .unwrap();
    for sub in [&mut ahead, &mut behind] {
        let next = collect(sub, 1).await;
        assert_eq!(next[0].sequence, EVENTS + 1);
    }
}

/// A subscription that starts ahead of what the others share (resumed from a later saved
/// checkpoint) must not make the others skip what lies between.
pub async fn a_subscription_ahead_of_the_others_makes_them_skip_nothing(h: Harness) {
    let store = h.store();
    append_added(store, "c-1", 0, 1..=10).await;
    let mut behind = store.subscribe(Checkpoint::START, 3).await.unwrap();
    let mut read = collect(&mut behind, 3).await;
    append_added(store, "c-1", 10, 11..=20).await;
    let mut log = Vec::new();
    while log.len() < 20 {
        log = store.read_after(Checkpoint::START, 100).await.unwrap();
    }
    let mut ahead = store.subscribe(log[14].checkpoint(), 100).await.unwrap();
    let ahead_read = collect(&mut ahead, 5).await;
    assert_eq!(ahead_read[0].sequence, 16);
    read.extend(collect(&mut behind, 17).await);
    assert_eq!(
        read.iter().map(|e| e.sequence).collect::<Vec<_>>(),
        (1..=20).collect::<Vec<_>>()
    );
}

/// `id`'s (total, version) as [`EventStore::load_many_fresh`] serves it, if it exists.
async fn checked(store: &event_store::EventStore, id: &str) -> Option<(u64, u64)> {
    let states = store.load_many_fresh::<Counter>(&[id]).await.unwrap();
    states
        .get(id)
        .map(|loaded| (loaded.aggregate.total, loaded.version))
}

/// A store whose checked states are served for as long as a test needs, and a subscription
/// that reads the head for it, caught up with `events` events.
async fn checking_store(h: &Harness, events: usize) -> (event_store::EventStore, Subscription) {
    let store = h
        .store()
        .clone()
        .with_staleness_bound(Duration::from_secs(3_600));
    let mut sub = store.subscribe(Checkpoint::START, 100).await.unwrap();
    collect(&mut sub, events).await;
    (store, sub)
}

/// A state read once is served from memory while the tail reads the head (here with the
/// database closed).
pub async fn a_checked_state_is_served_from_memory_while_the_tail_reads_the_head(h: Harness) {
    append_added(h.store(), "p-1", 0, [1, 2].into_iter()).await;
    let (store, _sub) = checking_store(&h, 2).await;
    assert_eq!(checked(&store, "p-1").await, Some((3, 2)));
    assert_eq!(checked(&store, "nobody").await, None);
    h.close();
    assert_eq!(checked(&store, "p-1").await, Some((3, 2)));
}

/// An event another process appends is seen by the tail, and the state is read again.
pub async fn a_checked_state_moved_on_by_another_process_is_read_again_once_the_tail_sees_it(
    h: Harness,
) {
    append_added(h.store(), "p-1", 0, [1].into_iter()).await;
    let (store, mut sub) = checking_store(&h, 1).await;
    assert_eq!(checked(&store, "p-1").await, Some((1, 1)));
    let other = h.reopen().await;
    append_added(&other, "p-1", 1, [10].into_iter()).await;
    collect(&mut sub, 1).await;
    assert_eq!(checked(&store, "p-1").await, Some((11, 2)));
}

/// What this process writes is never served older, even before the tail reads it.
pub async fn a_checked_state_this_process_wrote_is_never_served_older(h: Harness) {
    append_added(h.store(), "p-1", 0, [1].into_iter()).await;
    let (store, _sub) = checking_store(&h, 1).await;
    assert_eq!(checked(&store, "p-1").await, Some((1, 1)));
    append_added(&store, "p-1", 1, [10].into_iter()).await;
    assert_eq!(checked(&store, "p-1").await, Some((11, 2)));
}

/// Once the tail has not read the head within the bound, the state is read from the log.
pub async fn a_checked_state_is_read_again_when_the_tail_has_not_read_the_head_lately(h: Harness) {
    append_added(h.store(), "p-1", 0, [1].into_iter()).await;
    let store = h
        .store()
        .clone()
        .with_staleness_bound(Duration::from_millis(50));
    let mut sub = store.subscribe(Checkpoint::START, 100).await.unwrap();
    collect(&mut sub, 1).await;
    assert_eq!(checked(&store, "p-1").await, Some((1, 1)));
    let other = h.reopen().await;
    append_added(&other, "p-1", 1, [10].into_iter()).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(checked(&store, "p-1").await, Some((11, 2)));
}

/// A read of the head that does not continue the tail's last one (a subscription resumed
/// ahead of it) may have skipped events: every kept state is dropped.
pub async fn a_gap_in_the_tails_reads_drops_every_checked_state(h: Harness) {
    append_added(h.store(), "p-1", 0, [1].into_iter()).await;
    let (store, _sub) = checking_store(&h, 1).await;
    assert_eq!(checked(&store, "p-1").await, Some((1, 1)));
    let other = h.reopen().await;
    append_added(&other, "p-1", 1, [10].into_iter()).await;
    let mut log = Vec::new();
    while log.len() < 2 {
        log = store.read_after(Checkpoint::START, 10).await.unwrap();
    }
    let mut ahead = store.subscribe(log[1].checkpoint(), 100).await.unwrap();
    assert!(ahead.try_next_batch().await.unwrap().is_none());
    assert_eq!(checked(&store, "p-1").await, Some((11, 2)));
}

/// A state this process keeps is looked at without a read, and one read of the streams'
/// versions tells whether it is still the log's: after another process appended, it is not.
pub async fn a_kept_state_is_looked_at_in_place_and_checked_against_the_logs_versions(h: Harness) {
    let store = h.store();
    append_added(store, "c-1", 0, [1, 2].into_iter()).await;
    assert_eq!(store.kept_with("c-1", |c: &Counter| c.total).await, None);
    store.current::<Counter>("c-1").await.unwrap();
    assert_eq!(
        store.kept_with("c-1", |c: &Counter| c.total).await,
        Some((2, 3))
    );
    let versions = store
        .stream_versions::<Counter>(&["c-1", "c-none"])
        .await
        .unwrap();
    assert_eq!(
        versions,
        HashMap::from([("c-1".into(), 2), ("c-none".into(), 0)])
    );

    let other = h.reopen().await;
    append_added(&other, "c-1", 2, [10].into_iter()).await;
    // this process still keeps version 2; the log is at 3
    assert_eq!(
        store.kept_with("c-1", |c: &Counter| c.total).await,
        Some((2, 3))
    );
    let versions = store.stream_versions::<Counter>(&["c-1"]).await.unwrap();
    assert_eq!(versions["c-1"], 3);
}

/// A stream's version read once is served from memory while the tail reads the head, and
/// moves on with what the tail sees another process append (here with the database closed).
pub async fn a_checked_version_is_served_from_memory_and_moved_on_by_the_tail(h: Harness) {
    append_added(h.store(), "c-1", 0, [1, 2].into_iter()).await;
    let (store, mut sub) = checking_store(&h, 2).await;
    let versions = |store: event_store::EventStore| async move {
        store
            .stream_versions_fresh::<Counter>(&["c-1", "c-none"])
            .await
            .unwrap()
    };
    let read = HashMap::from([("c-1".into(), 2), ("c-none".into(), 0)]);
    assert_eq!(versions(store.clone()).await, read);
    let other = h.reopen().await;
    append_added(&other, "c-1", 2, [10].into_iter()).await;
    collect(&mut sub, 1).await;
    h.close();
    let moved_on = HashMap::from([("c-1".into(), 3), ("c-none".into(), 0)]);
    assert_eq!(versions(store).await, moved_on);
}
