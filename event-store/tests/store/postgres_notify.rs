//! The log's commit hint (ADR 44): an append wakes the subscriptions of other processes with
//! `NOTIFY` after it has committed, not from inside its transaction, where PostgreSQL would
//! serialize every appending commit of the server, whatever the database, behind one lock held
//! through the commit's flush.

use std::time::Duration;

use event_store::{Checkpoint, EventMetadata, EventStore};
use sqlx::PgPool;
use sqlx::postgres::PgListener;

use crate::counter::{Counter, added};

/// Longer than any NOTIFY takes; far shorter than the tests' own timeouts.
const HINT_WAIT: Duration = Duration::from_secs(5);

/// A listener of another process (its own connection) hears of an append.
#[sqlx::test(migrator = "event_store::MIGRATOR")]
async fn an_append_is_notified_to_other_processes(pool: PgPool) {
    let mut listener = PgListener::connect_with(&pool).await.unwrap();
    listener.listen("orders_events").await.unwrap();
    let store = EventStore::postgres(pool);
    store
        .append::<Counter>("c-1", 0, &[added(1)], &EventMetadata::default())
        .await
        .unwrap();
    let heard = tokio::time::timeout(HINT_WAIT, listener.recv()).await;
    assert!(matches!(heard, Ok(Ok(_))), "{heard:?}");
}

/// A copy appended by a move (ADR 42) is notified too: the target's followers apply it.
#[sqlx::test(migrator = "event_store::MIGRATOR")]
async fn a_copy_is_notified_to_other_processes(pool: PgPool) {
    let store = EventStore::postgres(pool.clone());
    store
        .append::<Counter>("c-1", 0, &[added(1)], &EventMetadata::default())
        .await
        .unwrap();
    let window = store
        .read_stored_after(Checkpoint::START, 10, &(0..=1023))
        .await
        .unwrap();
    assert_eq!(window.events.len(), 1);
    // the event leaves, to come back as a copy
    sqlx::query("DELETE FROM events")
        .execute(&pool)
        .await
        .unwrap();
    let mut listener = PgListener::connect_with(&pool).await.unwrap();
    listener.listen("orders_events").await.unwrap();
    let copied = store
        .append_copies("elsewhere", &window.events, "copier", Checkpoint::START)
        .await
        .unwrap();
    assert_eq!(copied, 1);
    let heard = tokio::time::timeout(HINT_WAIT, listener.recv()).await;
    assert!(matches!(heard, Ok(Ok(_))), "{heard:?}");
}

/// No trigger on the log: nothing queues a notification inside an append's transaction.
#[sqlx::test(migrator = "event_store::MIGRATOR")]
async fn no_append_notifies_from_inside_its_transaction(pool: PgPool) {
    let triggers: Vec<String> = sqlx::query_scalar(
        "SELECT tgname::text FROM pg_trigger WHERE tgrelid = 'events'::regclass \
         AND NOT tgisinternal",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(triggers, Vec::<String>::new());
}
