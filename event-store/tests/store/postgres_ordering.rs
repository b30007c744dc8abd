//! PostgreSQL-only ordering details of the log.

use event_store::Checkpoint;
use sqlx::PgPool;

/// Transaction ids must order as numbers: read as text, 10 sorts before 9 and a reader whose
/// checkpoint is at 9 skips everything from 10 to 99 (this bit us once when a fresh cluster's
/// transaction ids crossed 999 -> 1000 during a test).
#[sqlx::test(migrator = "event_store::MIGRATOR")]
async fn the_log_orders_transaction_ids_as_numbers(pool: PgPool) {
    for (txid, id) in [(10_i64, "second"), (9, "first"), (100, "third")] {
        sqlx::query(
            "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, \
             event_version, payload, metadata, txid) \
             VALUES ('Counter', $1, 1, 'Added', '2.0', '{\"Added\":{\"amount\":1}}', '{}', \
             $2::text::xid8)",
        )
        .bind(id)
        .bind(txid.to_string())
        .execute(&pool)
        .await
        .unwrap();
    }
    let store = event_store::EventStore::postgres(pool);
    let all = store.read_after(Checkpoint::START, 10).await.unwrap();
    let order: Vec<_> = all.iter().map(|e| e.aggregate_id.as_str()).collect();
    assert_eq!(order, ["first", "second", "third"]);

    let after_first = store.read_after(all[0].checkpoint(), 10).await.unwrap();
    assert_eq!(after_first.len(), 2, "{after_first:?}");
}

/// The subscriptions of a process share one LISTEN connection: each used to hold a pooled
/// connection of its own, and PostgreSQL woke every one of them on every commit.
#[sqlx::test(migrator = "event_store::MIGRATOR")]
async fn subscriptions_share_one_listening_connection(pool: PgPool) {
    const SUBSCRIPTIONS: usize = 8;
    let small = sqlx::postgres::PgPoolOptions::new()
        .max_connections(4)
        .acquire_timeout(std::time::Duration::from_secs(2))
        .connect_with((*pool.connect_options()).clone())
        .await
        .unwrap();
    let store = event_store::EventStore::postgres(small);
    let mut readers = Vec::new();
    for _ in 0..SUBSCRIPTIONS {
        let mut sub = store.subscribe(Checkpoint::START, 10).await.unwrap();
        readers.push(tokio::spawn(async move {
            loop {
                let batch = sub.next_batch().await.unwrap();
                if !batch.is_empty() {
                    return batch[0].aggregate_id.clone();
                }
            }
        }));
    }
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let listening: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity \
         WHERE datname = current_database() AND query LIKE 'LISTEN%'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(listening, 1);
    append_first(&store, "c-1", 1).await;
    for reader in readers {
        assert_eq!(reader.await.unwrap(), "c-1");
    }
}

/// Appends the first event of counter `id`, adding `amount`.
async fn append_first(store: &event_store::EventStore, id: &str, amount: u64) {
    store
        .append::<crate::counter::Counter>(
            id,
            0,
            &[crate::counter::added(amount)],
            &event_store::EventMetadata::default(),
        )
        .await
        .unwrap();
}

/// Appends one event and reads the log from the start until it shows, for at most `wait_ms`.
async fn appended_event_is_read_within(pool: &PgPool, wait_ms: u64) -> bool {
    let store = event_store::EventStore::postgres(pool.clone());
    append_first(&store, "c-1", 1).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_millis(wait_ms);
    while std::time::Instant::now() < deadline {
        if !store
            .read_after(Checkpoint::START, 10)
            .await
            .unwrap()
            .is_empty()
        {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    false
}

/// Opens a transaction on `pool`'s server in database `database` and gives it a transaction
/// id (as any write would), leaving it open.
async fn open_writing_transaction(
    pool: &PgPool,
    database: &str,
) -> sqlx::Transaction<'static, sqlx::Postgres> {
    let options = (*pool.connect_options()).clone().database(database);
    let elsewhere = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .unwrap();
    let mut tx = elsewhere.begin().await.unwrap();
    sqlx::query("SELECT pg_current_xact_id()")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx
}

/// Asserts that a writing transaction held open in `database` does not keep a fresh append
/// from the log's readers.
async fn a_transaction_in_does_not_hold_the_log_back(pool: &PgPool, database: &str) {
    let held = open_writing_transaction(pool, database).await;
    assert!(
        appended_event_is_read_within(pool, 2_000).await,
        "a transaction in database {database} held the log's readers back"
    );
    held.rollback().await.unwrap();
}

/// The horizon is the log's own: a transaction open in another database of the same cluster
/// (a shared cluster is the common case) used to stall every reader until it ended.
#[sqlx::test(migrator = "event_store::MIGRATOR")]
async fn a_transaction_in_another_database_does_not_hold_the_log_back(pool: PgPool) {
    a_transaction_in_does_not_hold_the_log_back(&pool, "postgres").await;
}

/// Nor does a transaction of the same database that writes no event (a projection's, an
/// operator's).
#[sqlx::test(migrator = "event_store::MIGRATOR")]
async fn a_transaction_that_appends_nothing_does_not_hold_the_log_back(pool: PgPool) {
    let database: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(&pool)
        .await
        .unwrap();
    a_transaction_in_does_not_hold_the_log_back(&pool, &database).await;
}

/// While an append is held open, the events committed after it wait (ADR 1); a reader's lag
/// counts them, so that a stall shows on the lag gauges instead of reading 0 the whole time.
#[sqlx::test(migrator = "event_store::MIGRATOR")]
async fn events_held_back_by_a_running_append_count_as_lag(pool: PgPool) {
    let h = crate::harness::Harness::postgres(pool);
    let held = h
        .hold_writer(
            "early",
            1,
            "2.0",
            serde_json::json!({"Added": {"amount": 1}}),
        )
        .await;
    let store = h.store();
    append_first(store, "late", 2).await;
    assert!(
        store
            .read_after(Checkpoint::START, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let pending = store.pending(Checkpoint::START, 10).await.unwrap();
    assert_eq!(pending.events, 1, "the committed event waits: {pending:?}");
    assert!(pending.oldest.is_some());
    held.commit().await;
}

/// The ages of the transactions that can hold the log back are there to be watched.
#[sqlx::test(migrator = "event_store::MIGRATOR")]
async fn the_oldest_append_and_the_oldest_writer_are_measured(pool: PgPool) {
    let h = crate::harness::Harness::postgres(pool.clone());
    let idle = h.store().transaction_ages().await.unwrap().unwrap();
    assert_eq!(idle.oldest_append_secs, None);
    let elsewhere = open_writing_transaction(&pool, "postgres").await;
    let held = h
        .hold_writer(
            "early",
            1,
            "2.0",
            serde_json::json!({"Added": {"amount": 1}}),
        )
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let ages = h.store().transaction_ages().await.unwrap().unwrap();
    let append = ages.oldest_append_secs.expect("the held append is running");
    let writer = ages.oldest_writer_secs.expect("two writers are running");
    assert!(append >= 0.25, "{ages:?}");
    assert!(
        writer >= append,
        "the other database's began first: {ages:?}"
    );
    held.commit().await;
    elsewhere.rollback().await.unwrap();
}
