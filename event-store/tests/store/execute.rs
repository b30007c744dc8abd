//! Commands on one stream from two processes at once (two stores, each with its own slots and
//! batched writes): every write that loses the race is decided again, nothing is written on top
//! of an unwritten state, and stock is never oversold.

use chrono::Utc;
use domain::{
    CreateSku, OrderId, Quantity, ReserveStock, SellerId, Sku, SkuCommand, SkuError, SkuId,
};
use event_store::{EventMetadata, EventStore};
use event_store::{ExecuteError, execute};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

const SKU: &str = "hot";
const PER_PROCESS: u64 = 150;

fn meta(key: String) -> EventMetadata {
    EventMetadata {
        dedup_key: Some(key),
        ..EventMetadata::default()
    }
}

async fn second_process(pool: &PgPool) -> EventStore {
    EventStore::postgres(
        PgPoolOptions::new()
            .max_connections(8)
            .connect_with((*pool.connect_options()).clone())
            .await
            .unwrap(),
    )
}

async fn create(store: &EventStore, stock: u32) {
    let command = CreateSku {
        sku: SkuId::parse(SKU).unwrap(),
        seller: SellerId::parse("shop-1").unwrap(),
        initial_stock: stock,
        at: Utc::now(),
    };
    execute::<Sku, _>(store, SKU, None, &meta("create".into()), |sku| {
        sku.decide(SkuCommand::CreateSku(command.clone()))
    })
    .await
    .unwrap();
}

/// Reserves one unit for each order `first..first + PER_PROCESS`, all at once; returns how
/// many were reserved and how many refused as out of stock.
async fn reserve_all(store: &EventStore, first: u64) -> (u64, u64) {
    let reservations = (first..first + PER_PROCESS).map(|n| {
        let store = store.clone();
        async move {
            let command = ReserveStock {
                order_id: OrderId::new(n).unwrap(),
                quantity: Quantity::new(1).unwrap(),
                at: Utc::now(),
            };
            execute::<Sku, _>(&store, SKU, None, &meta(format!("reserve:{n}")), |sku| {
                sku.decide(SkuCommand::ReserveStock(command.clone()))
            })
            .await
        }
    });
    let mut counts = (0, 0);
    for result in futures::future::join_all(reservations).await {
        match result {
            Ok(executed) => {
                assert_eq!(executed.appended, 1);
                counts.0 += 1;
            }
            Err(ExecuteError::Domain(SkuError::InsufficientStock { .. })) => counts.1 += 1,
            Err(other) => panic!("{other}"),
        }
    }
    counts
}

#[sqlx::test(migrator = "event_store::MIGRATOR")]
async fn two_processes_reserving_one_sku_lose_and_double_nothing(pool: PgPool) {
    let one = EventStore::postgres(pool.clone());
    let two = second_process(&pool).await;
    create(&one, 10_000).await;
    let (a, b) = tokio::join!(reserve_all(&one, 1_000), reserve_all(&two, 5_000));
    assert_eq!((a, b), ((PER_PROCESS, 0), (PER_PROCESS, 0)));
    let log = one.load::<Sku>(SKU).await.unwrap();
    assert_eq!(
        log.version,
        1 + 2 * PER_PROCESS,
        "one event per reservation, no gaps"
    );
    assert_eq!(log.aggregate.reserved(), 2 * PER_PROCESS);
}

#[sqlx::test(migrator = "event_store::MIGRATOR")]
async fn two_processes_never_oversell_one_sku(pool: PgPool) {
    const STOCK: u32 = 120;
    let one = EventStore::postgres(pool.clone());
    let two = second_process(&pool).await;
    create(&one, STOCK).await;
    let ((a, a_refused), (b, b_refused)) =
        tokio::join!(reserve_all(&one, 1_000), reserve_all(&two, 5_000));
    assert_eq!(a + b, u64::from(STOCK), "sold exactly the stock");
    assert_eq!(a_refused + b_refused, 2 * PER_PROCESS - u64::from(STOCK));
    let log = one.load::<Sku>(SKU).await.unwrap();
    assert_eq!(log.aggregate.reserved(), u64::from(STOCK));
    assert_eq!(log.aggregate.available(), 0);
}

/// A stream a process has never seen is presumed new without reading the log; when another
/// process created it meanwhile, the presumption costs a failed write, never a wrong answer.
#[sqlx::test(migrator = "event_store::MIGRATOR")]
async fn a_stream_presumed_new_that_exists_is_decided_again_on_the_log(pool: PgPool) {
    let one = EventStore::postgres(pool.clone());
    let two = second_process(&pool).await;
    create(&one, 5).await;

    let presumed = two.current_or_new::<Sku>(SKU).await.unwrap();
    assert_eq!((presumed.version, presumed.aggregate.sku()), (0, None));
    let command = CreateSku {
        sku: SkuId::parse(SKU).unwrap(),
        seller: SellerId::parse("shop-1").unwrap(),
        initial_stock: 7,
        at: Utc::now(),
    };
    let created_again = execute::<Sku, _>(&two, SKU, None, &meta("create-again".into()), |sku| {
        sku.decide(SkuCommand::CreateSku(command.clone()))
    })
    .await;
    assert!(
        matches!(
            created_again,
            Err(ExecuteError::Domain(SkuError::AlreadyExists))
        ),
        "{created_again:?}"
    );
    let log = one.load::<Sku>(SKU).await.unwrap();
    assert_eq!((log.version, log.aggregate.available()), (1, 5));

    // a refusal on the presumed state is checked against the log before it is given
    let three = second_process(&pool).await;
    three.current_or_new::<Sku>(SKU).await.unwrap();
    let (reserved, refused) = reserve_all(&three, 1).await;
    assert_eq!((reserved, refused), (5, PER_PROCESS - 5));
}

/// Presuming a stream new reads nothing: it answers with the database gone.
#[sqlx::test(migrator = "event_store::MIGRATOR")]
async fn presuming_a_stream_new_reads_nothing(pool: PgPool) {
    let store = EventStore::postgres(pool.clone());
    pool.close().await;
    let presumed = store.current_or_new::<Sku>("never-seen").await.unwrap();
    assert_eq!(presumed.version, 0);
    assert!(store.current::<Sku>("also-never-seen").await.is_err());
}

/// Adds `quantity` units with the dedup key `key`: `AddStock` appends whenever it is decided,
/// so only the dedup key makes a retry change nothing.
async fn add_stock(
    store: &EventStore,
    key: &str,
    quantity: u32,
) -> Result<event_store::Executed<Sku>, ExecuteError<SkuError>> {
    add_stock_at(store, None, key, quantity).await
}

/// [`add_stock`] at the stream version `expected` (`If-Match`), when given.
async fn add_stock_at(
    store: &EventStore,
    expected: Option<u64>,
    key: &str,
    quantity: u32,
) -> Result<event_store::Executed<Sku>, ExecuteError<SkuError>> {
    let command = domain::AddStock {
        quantity,
        at: Utc::now(),
    };
    execute::<Sku, _>(store, SKU, expected, &meta(key.into()), |sku| {
        sku.decide(SkuCommand::AddStock(command.clone()))
    })
    .await
}

/// A command repeated with the dedup key the log holds answers as the first did (the state
/// after it, nothing appended), from this process's kept state and from another process's:
/// never `Contention` from deciding again and again on a write that can never succeed.
async fn a_repeated_dedup_key_answers_the_first_result(store: &EventStore, other: &EventStore) {
    create(store, 5).await;
    let first = add_stock(store, "stock:k-1", 3).await.unwrap();
    assert_eq!(
        (first.appended, first.version, first.aggregate.available()),
        (1, 2, 8)
    );
    for process in [store, other] {
        let again = add_stock(process, "stock:k-1", 3).await.unwrap();
        assert_eq!(
            (again.appended, again.version, again.aggregate.available()),
            (0, 2, 8)
        );
    }
    let next = add_stock(other, "stock:k-2", 1).await.unwrap();
    assert_eq!(
        (next.appended, next.version, next.aggregate.available()),
        (1, 3, 9)
    );
    let late = add_stock(store, "stock:k-1", 3).await.unwrap();
    assert_eq!(
        (late.appended, late.version, late.aggregate.available()),
        (0, 3, 9)
    );

    // with If-Match: the retry's version is the one the first call expected
    let matched = add_stock_at(store, Some(3), "stock:k-3", 2).await.unwrap();
    assert_eq!((matched.appended, matched.version), (1, 4));
    for process in [store, other] {
        let again = add_stock_at(process, Some(3), "stock:k-3", 2)
            .await
            .unwrap();
        assert_eq!(
            (again.appended, again.version, again.aggregate.available()),
            (0, 4, 11)
        );
    }
    let stale = add_stock_at(store, Some(3), "stock:k-4", 2).await;
    assert!(
        matches!(stale, Err(ExecuteError::VersionMismatch { current: 4 })),
        "{stale:?}"
    );
}

#[sqlx::test(migrator = "event_store::MIGRATOR")]
async fn postgres_a_repeated_dedup_key_answers_the_first_result(pool: PgPool) {
    let harness = crate::harness::Harness::postgres(pool);
    let other = harness.reopen().await;
    a_repeated_dedup_key_answers_the_first_result(harness.store(), &other).await;
}

#[tokio::test]
async fn sqlite_a_repeated_dedup_key_answers_the_first_result() {
    let harness = crate::harness::Harness::sqlite().await;
    let other = harness.reopen().await;
    a_repeated_dedup_key_answers_the_first_result(harness.store(), &other).await;
}
