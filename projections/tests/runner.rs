//! The projection runner against real stores: every event applied exactly once, also when the
//! runner is killed mid-batch again and again. Each test runs on PostgreSQL (a fresh database
//! per test) and on SQLite (a temporary file).
#![allow(clippy::unwrap_used, clippy::expect_used, unreachable_pub)]

mod common;

use std::time::Duration;

use chrono::Utc;
use common::{eventually_reconciled, sqlite_store};
use domain::{
    BuyerId, Money, Order, OrderEvent, OrderId, OrderItem, OrderPlaced, PaymentConfirmed,
    ProductSnapshot, ProductTitle, Quantity, SellerId, Sku, SkuCreated, SkuEvent, SkuId,
    StockDeducted, StockReserved, TxnId,
};
use event_store::{EventMetadata, EventStore};
use projections::{OrderDocument, Owner, Projection, ProjectionMetrics, ReadModels, Runner, Shelf};
use tokio_util::sync::CancellationToken;

const ORDERS: u64 = 40;
const SKU: &str = "tea";
const PRICE_CENTS: i64 = 250;

fn meta(key: String) -> EventMetadata {
    EventMetadata {
        dedup_key: Some(key),
        actor: Some("test".into()),
        ..EventMetadata::default()
    }
}

fn placed(n: u64) -> OrderPlaced {
    let price = Money::from_minor(PRICE_CENTS).unwrap();
    let now = Utc::now();
    OrderPlaced {
        order_id: OrderId::new(1_000 + n).unwrap(),
        buyer: BuyerId::parse(&format!("b-{}", n % 3)).unwrap(),
        seller: SellerId::parse("shop-1").unwrap(),
        items: vec![OrderItem {
            line: 0,
            sku: SkuId::parse(SKU).unwrap(),
            quantity: Quantity::new(1).unwrap(),
            snapshot: ProductSnapshot {
                sku: SkuId::parse(SKU).unwrap(),
                seller: SellerId::parse("shop-1").unwrap(),
                // what a COPY must carry unchanged: quotes, a backslash, characters of several bytes
                title: ProductTitle::parse("Tea \"Earl\" Grey \\ 茶 🍵").unwrap(),
                unit_price: price,
                version: 1,
            },
            list_total: price,
            discount: Money::zero(),
            paid_amount: price,
        }],
        list_total: price,
        discount: Money::zero(),
        total: price,
        placed_at: now,
        payment_due_at: now + chrono::Duration::minutes(15),
        campaign: None,
    }
}

/// Places `ORDERS` orders on one SKU and pays every other one, event by event.
async fn write_log(store: &EventStore) {
    let created = SkuEvent::SkuCreated(SkuCreated {
        sku: SkuId::parse(SKU).unwrap(),
        seller: SellerId::parse("shop-1").unwrap(),
        initial_stock: 1_000,
        at: Utc::now(),
    });
    let mut sku_version = store
        .append::<Sku>(SKU, 0, &[created], &meta("create".into()))
        .await
        .unwrap()
        .version;
    for n in 0..ORDERS {
        let order_id = OrderId::new(1_000 + n).unwrap();
        let one = Quantity::new(1).unwrap();
        let reserved = SkuEvent::StockReserved(StockReserved {
            order_id,
            quantity: one,
            at: Utc::now(),
        });
        sku_version = store
            .append::<Sku>(SKU, sku_version, &[reserved], &meta(format!("r{n}")))
            .await
            .unwrap()
            .version;
        let id = order_id.to_string();
        store
            .append::<Order>(
                &id,
                0,
                &[OrderEvent::OrderPlaced(placed(n))],
                &meta(id.clone()),
            )
            .await
            .unwrap();
        if n % 2 == 0 {
            let paid = OrderEvent::PaymentConfirmed(PaymentConfirmed {
                txn_id: TxnId::parse(&format!("T-{n}")).unwrap(),
                amount: Money::from_minor(PRICE_CENTS).unwrap(),
                at: Utc::now(),
            });
            store
                .append::<Order>(&id, 1, &[paid], &meta(format!("T-{n}")))
                .await
                .unwrap();
            let deducted = SkuEvent::StockDeducted(StockDeducted {
                order_id,
                quantity: one,
                at: Utc::now(),
            });
            sku_version = store
                .append::<Sku>(SKU, sku_version, &[deducted], &meta(format!("d{n}")))
                .await
                .unwrap()
                .version;
        }
    }
}

/// Whether every view equals what the log says, as a fresh replay would build it: each
/// order's document and hash from its stream, the stock from the SKU's stream.
async fn views_match_the_log(store: &EventStore, models: &ReadModels) -> Result<(), String> {
    for n in 0..ORDERS {
        let id = (1_000 + n).to_string();
        let loaded = store.load::<Order>(&id).await.unwrap();
        let expected = OrderDocument::of(&loaded.aggregate, loaded.version).unwrap();
        let stored = models
            .order(&id)
            .await
            .unwrap()
            .ok_or(format!("order {id} missing"))?;
        if stored.document != expected || stored.content_hash != expected.content_hash() {
            return Err(format!("order {id} differs: {stored:?}"));
        }
        let buyer = expected.buyer_id.clone();
        let listed = models
            .orders(Owner::Buyer(&buyer), Shelf::Hot, None, None, 100)
            .await
            .unwrap();
        let in_list = listed.iter().find(|o| o.document.order_id == id);
        if in_list.map(|o| &o.content_hash) != Some(&stored.content_hash) {
            return Err(format!("order {id} differs in the buyer list"));
        }
    }
    let sku = store.load::<Sku>(SKU).await.unwrap();
    let stock = models.stock(SKU).await.unwrap().ok_or("stock missing")?;
    let expected = (
        i64::try_from(sku.aggregate.available()).unwrap(),
        i64::try_from(sku.aggregate.reserved()).unwrap(),
        i64::try_from(sku.aggregate.sold()).unwrap(),
        sku.version,
    );
    let got = (stock.available, stock.reserved, stock.sold, stock.version);
    if got != expected {
        return Err(format!("stock {got:?}, the log says {expected:?}"));
    }
    Ok(())
}

/// Catches up and compares until the views match (on PostgreSQL a writing transaction
/// elsewhere in the cluster holds readers back for a moment, ADR 1).
async fn eventually_views_match(store: &EventStore, catch_up: bool) {
    let models = ReadModels::new(store);
    let metrics = ProjectionMetrics::unregistered().unwrap();
    let mut last = String::new();
    for _ in 0..200 {
        for projection in Projection::ALL.into_iter().filter(|_| catch_up) {
            Runner::new(store.clone(), projection, metrics.clone())
                .catch_up()
                .await
                .unwrap();
        }
        match views_match_the_log(store, &models).await {
            Ok(()) => return,
            Err(why) => last = why,
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("views do not match the log: {last}");
}

async fn killed_runners_apply_every_event_exactly_once(store: EventStore) {
    let writer = tokio::spawn({
        let store = store.clone();
        async move { write_log(&store).await }
    });
    let metrics = ProjectionMetrics::unregistered().unwrap();
    let mut kills = 0u64;
    while !writer.is_finished() {
        let runners: Vec<_> = Projection::ALL
            .into_iter()
            .map(|p| {
                let runner = Runner::new(store.clone(), p, metrics.clone());
                tokio::spawn(runner.run(CancellationToken::new()))
            })
            .collect();
        // kill at varying points: before, inside and between batches
        tokio::time::sleep(Duration::from_millis(3 + (kills * 7) % 23)).await;
        for runner in runners {
            runner.abort();
        }
        kills += 1;
    }
    writer.await.unwrap();
    assert!(kills > 1, "the runners were killed while events arrived");
    eventually_views_match(&store, true).await;
}

async fn a_runner_started_twice_applies_nothing_twice(store: EventStore) {
    write_log(&store).await;
    let metrics = ProjectionMetrics::unregistered().unwrap();
    let shutdown = CancellationToken::new();
    // two runners per projection race for every batch; the checkpoint's compare-and-set
    // lets one of them apply it and rolls the other back
    let runners: Vec<_> = (0..2)
        .flat_map(|_| Projection::ALL)
        .map(|p| tokio::spawn(Runner::new(store.clone(), p, metrics.clone()).run(shutdown.clone())))
        .collect();
    eventually_views_match(&store, false).await;
    shutdown.cancel();
    for runner in runners {
        runner.await.unwrap();
    }
}

/// A busy runner measures its lag at most once a second, not after every batch; once it has
/// caught up, the gauges still fall to zero (it measures again when it finds the log idle).
async fn the_lag_gauges_fall_to_zero_once_the_runners_have_caught_up(store: EventStore) {
    write_log(&store).await;
    let metrics = ProjectionMetrics::unregistered().unwrap();
    let shutdown = CancellationToken::new();
    let runners: Vec<_> = Projection::ALL
        .into_iter()
        .map(|p| tokio::spawn(Runner::new(store.clone(), p, metrics.clone()).run(shutdown.clone())))
        .collect();
    eventually_views_match(&store, false).await;
    let lags = || {
        Projection::ALL.map(|p| {
            (
                metrics
                    .lag_events
                    .with_label_values(&metrics.labels(p.name()))
                    .get(),
                metrics
                    .lag_seconds
                    .with_label_values(&metrics.labels(p.name()))
                    .get(),
            )
        })
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while lags().iter().any(|&lag| lag != (0, 0.0)) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the lag stays at {:?}",
            lags()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    shutdown.cancel();
    for runner in runners {
        runner.await.unwrap();
    }
}

async fn reconcile_is_clean_until_a_view_row_is_tampered_with(store: EventStore) {
    write_log(&store).await;
    let report = eventually_reconciled(&store, ORDERS).await;
    assert_eq!(report.skus_checked, 1);

    // a forged hash, and an order listed to another buyer (the lists index the detail view's
    // owner columns, ADR 13)
    let tamper = "UPDATE order_detail SET content_hash = 'forged' WHERE order_id = '1001'; \
                  UPDATE order_detail SET buyer_id = 'someone-else' WHERE order_id = '1002'";
    match (store.postgres_pool(), store.sqlite_pool()) {
        (Some(pg), _) => {
            sqlx::raw_sql(tamper).execute(pg).await.unwrap();
        }
        (None, Some(lite)) => {
            sqlx::raw_sql(tamper).execute(lite).await.unwrap();
        }
        (None, None) => unreachable!(),
    }
    let report = projections::reconcile::reconcile(&store).await.unwrap();
    assert!(!report.is_clean());
    let found: Vec<_> = report
        .differences
        .iter()
        .map(|d| (d.kind.as_str(), d.view.as_str(), d.id.as_str()))
        .collect();
    assert_eq!(
        found,
        [
            ("hash", "order_detail", "1001"),
            ("columns", "order_detail", "1002")
        ],
        "{report:?}"
    );
}

/// The stock view's row of the SKU once the runner has applied its stream up to `version`;
/// `None` if it never gets there (events may be held back for a moment by other tests'
/// transactions, ADR 1).
async fn stock_at(
    runner: &Runner,
    models: &ReadModels,
    version: u64,
) -> Option<projections::StockRow> {
    for _ in 0..500 {
        runner.catch_up().await.unwrap();
        let row = models
            .stock(SKU)
            .await
            .unwrap()
            .filter(|row| row.version == version);
        if row.is_some() {
            return row;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

/// A batch's stock movements on one SKU are applied together, and only on top of the SKU's
/// previous event: a view row that is not where the log says stops the runner, unmoved.
async fn stock_moves_apply_only_on_top_of_the_previous_event(store: EventStore) {
    write_log(&store).await;
    let metrics = ProjectionMetrics::unregistered().unwrap();
    let runner = Runner::new(store.clone(), Projection::Stock, metrics);
    let models = ReadModels::new(&store);
    // caught up with the whole log (other tests' transactions may hold it back, ADR 1)
    let logged = store.load::<Sku>(SKU).await.unwrap().version;
    let before = stock_at(&runner, &models, logged)
        .await
        .expect("the stock view caught up");
    let reserve = |n: u64| {
        SkuEvent::StockReserved(StockReserved {
            order_id: OrderId::new(5_000 + n).unwrap(),
            quantity: Quantity::new(2).unwrap(),
            at: Utc::now(),
        })
    };
    let version = store.load::<Sku>(SKU).await.unwrap().version;
    let version = store
        .append::<Sku>(SKU, version, &[reserve(0)], &meta("late-0".into()))
        .await
        .unwrap()
        .version;
    store
        .append::<Sku>(SKU, version, &[reserve(1)], &meta("late-1".into()))
        .await
        .unwrap();
    let tamper = "UPDATE sku_stock SET version = version - 1 WHERE sku = 'tea'";
    match (store.postgres_pool(), store.sqlite_pool()) {
        (Some(pg), _) => sqlx::query(tamper).execute(pg).await.map(|_| ()).unwrap(),
        (None, Some(lite)) => sqlx::query(tamper).execute(lite).await.map(|_| ()).unwrap(),
        (None, None) => unreachable!(),
    }
    // the new events may be held back for a moment by other tests' transactions (ADR 1)
    let mut failed = runner.catch_up().await;
    for _ in 0..500 {
        if !matches!(failed, Ok(0)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        failed = runner.catch_up().await;
    }
    assert!(
        matches!(failed, Err(projections::ProjectionError::Corrupt(_))),
        "{failed:?}"
    );
    let after = models.stock(SKU).await.unwrap().unwrap();
    assert_eq!(
        (after.available, after.reserved, after.version),
        (before.available, before.reserved, before.version - 1),
        "nothing moved"
    );
    let restore = "UPDATE sku_stock SET version = version + 1 WHERE sku = 'tea'";
    match (store.postgres_pool(), store.sqlite_pool()) {
        (Some(pg), _) => sqlx::query(restore).execute(pg).await.map(|_| ()).unwrap(),
        (None, Some(lite)) => sqlx::query(restore)
            .execute(lite)
            .await
            .map(|_| ())
            .unwrap(),
        (None, None) => unreachable!(),
    }
    // the second event may still be held back while the first one applies (ADR 1)
    let after = stock_at(&runner, &models, before.version + 2)
        .await
        .expect("the stock view applied both late moves");
    assert_eq!(
        (after.available, after.reserved, after.version),
        (
            before.available - 4,
            before.reserved + 4,
            before.version + 2
        )
    );
}

async fn audit_shows_who_did_what_and_the_state_at_a_time(store: EventStore) {
    write_log(&store).await;
    let events = store.read_stream("Order", "1000").await.unwrap();
    let placed_at = events[0].recorded_at;
    let audit = projections::audit::audit(&store, "1000", placed_at)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(audit.events.len(), 2);
    assert_eq!(audit.events[1].event_type, "PaymentConfirmed");
    assert_eq!(audit.events[1].dedup_key.as_deref(), Some("T-0"));
    assert_eq!(audit.events[0].actor.as_deref(), Some("test"));
    // SQLite records milliseconds: two events in one millisecond share their time
    if events[1].recorded_at > placed_at {
        let then = audit.state.unwrap();
        assert_eq!((then.status.as_str(), then.version), ("PendingPayment", 1));
    }
    let now = projections::audit::audit(&store, "1000", Utc::now())
        .await
        .unwrap()
        .unwrap()
        .state
        .unwrap();
    assert_eq!((now.status.as_str(), now.version), ("Paid", 2));
    let before =
        projections::audit::audit(&store, "1000", placed_at - chrono::Duration::seconds(1))
            .await
            .unwrap()
            .unwrap();
    assert!(before.state.is_none(), "no order before it was placed");
    assert!(
        projections::audit::audit(&store, "999", Utc::now())
            .await
            .unwrap()
            .is_none()
    );
}

async fn a_replay_while_events_arrive_swaps_in_views_equal_to_the_log(store: EventStore) {
    let metrics = ProjectionMetrics::unregistered().unwrap();
    let shutdown = CancellationToken::new();
    let live: Vec<_> = Projection::ALL
        .into_iter()
        .map(|p| tokio::spawn(Runner::new(store.clone(), p, metrics.clone()).run(shutdown.clone())))
        .collect();
    let writer = tokio::spawn({
        let store = store.clone();
        async move { write_log(&store).await }
    });
    let mut replays = 0;
    while !writer.is_finished() || replays < 2 {
        for projection in Projection::ALL {
            let mut last = None;
            // small pages too: streams split across pages, and every writer busy
            let page = [3, 7, projections::replay::REPLAY_PAGE_EVENTS][replays % 3];
            projections::replay::replay_in_pages(&store, projection, page, |p| last = Some(p))
                .await
                .unwrap();
            let last = last.unwrap();
            assert_eq!(last.stage, projections::replay::Stage::Swapping);
            assert!(last.events == 0 || last.events_per_sec > 0.0);
        }
        replays += 1;
    }
    writer.await.unwrap();
    // the live runners carry on over the swapped-in tables
    eventually_views_match(&store, false).await;
    shutdown.cancel();
    for runner in live {
        runner.await.unwrap();
    }
    assert!(
        projections::reconcile::reconcile(&store)
            .await
            .unwrap()
            .is_clean()
    );
}

/// Two replays of one projection at once: the one that started last wins, the other fails
/// rather than swap in tables the two of them wrote over each other, and the views are the
/// log's.
async fn replays_at_once_never_swap_in_half_written_tables(store: EventStore) {
    write_log(&store).await;
    for round in 0..4 {
        let later = async {
            tokio::time::sleep(Duration::from_millis(5 * round)).await;
            projections::replay::replay_in_pages(&store, Projection::Orders, 2, |_| {}).await
        };
        let (first, second) = tokio::join!(
            projections::replay::replay_in_pages(&store, Projection::Orders, 2, |_| {}),
            later
        );
        let mut won = 0;
        for replay in [first, second] {
            match replay {
                Ok(_) => won += 1,
                Err(err @ projections::ProjectionError::CheckpointMoved(name, _)) => {
                    assert_eq!(name, "orders:replay");
                    // a follower tells the race from a fault by this cause
                    let cause = std::error::Error::source(&err).unwrap();
                    assert!(cause.is::<event_store::follower::Superseded>());
                }
                Err(e) => panic!("{e:?}"),
            }
        }
        assert!(won >= 1, "round {round}: neither replay finished");
        eventually_views_match(&store, true).await;
    }
}

mod postgres {
    #[sqlx::test(migrator = "projections::MIGRATOR")]
    async fn the_lag_gauges_fall_to_zero_once_the_runners_have_caught_up(pool: sqlx::PgPool) {
        super::the_lag_gauges_fall_to_zero_once_the_runners_have_caught_up(
            event_store::EventStore::postgres(pool),
        )
        .await;
    }

    #[sqlx::test(migrator = "projections::MIGRATOR")]
    async fn replays_at_once_never_swap_in_half_written_tables(pool: sqlx::PgPool) {
        super::replays_at_once_never_swap_in_half_written_tables(
            event_store::EventStore::postgres(pool),
        )
        .await;
    }

    #[sqlx::test(migrator = "projections::MIGRATOR")]
    async fn stock_moves_apply_only_on_top_of_the_previous_event(pool: sqlx::PgPool) {
        super::stock_moves_apply_only_on_top_of_the_previous_event(
            event_store::EventStore::postgres(pool),
        )
        .await;
    }

    #[sqlx::test(migrator = "projections::MIGRATOR")]
    async fn a_replay_while_events_arrive_swaps_in_views_equal_to_the_log(pool: sqlx::PgPool) {
        super::a_replay_while_events_arrive_swaps_in_views_equal_to_the_log(
            event_store::EventStore::postgres(pool),
        )
        .await;
    }

    #[sqlx::test(migrator = "projections::MIGRATOR")]
    async fn reconcile_is_clean_until_a_view_row_is_tampered_with(pool: sqlx::PgPool) {
        super::reconcile_is_clean_until_a_view_row_is_tampered_with(
            event_store::EventStore::postgres(pool),
        )
        .await;
    }

    #[sqlx::test(migrator = "projections::MIGRATOR")]
    async fn audit_shows_who_did_what_and_the_state_at_a_time(pool: sqlx::PgPool) {
        super::audit_shows_who_did_what_and_the_state_at_a_time(event_store::EventStore::postgres(
            pool,
        ))
        .await;
    }

    #[sqlx::test(migrator = "projections::MIGRATOR")]
    async fn killed_runners_apply_every_event_exactly_once(pool: sqlx::PgPool) {
        super::killed_runners_apply_every_event_exactly_once(event_store::EventStore::postgres(
            pool,
        ))
        .await;
    }

    /// The indexes of a table, by what they index (their names change with each replay).
    async fn indexes_of(pool: &sqlx::PgPool, table: &str) -> Vec<String> {
        let defs: Vec<String> = sqlx::query_scalar(
            "SELECT pg_get_indexdef(indexrelid) FROM pg_index \
             WHERE indrelid = CAST($1 AS regclass)",
        )
        .bind(table)
        .fetch_all(pool)
        .await
        .unwrap();
        let mut shapes: Vec<String> = defs
            .iter()
            .map(|d| d[d.find(" USING ").unwrap()..].to_owned())
            .collect();
        shapes.sort();
        shapes
    }

    /// The names of the detail view's primary key constraints.
    async fn primary_keys(pool: &sqlx::PgPool) -> Vec<String> {
        sqlx::query_scalar(
            "SELECT conname::text FROM pg_constraint \
             WHERE conrelid = CAST('order_detail' AS regclass) AND contype = 'p'",
        )
        .fetch_all(pool)
        .await
        .unwrap()
    }

    /// Every index of `table`: its name and its shape (its definition from `USING` on).
    async fn named_indexes(pool: &sqlx::PgPool, table: &str) -> Vec<(String, String)> {
        let mut named: Vec<(String, String)> = sqlx::query_as(
            "SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index \
             WHERE indrelid = CAST($1 AS regclass)",
        )
        .bind(table)
        .fetch_all(pool)
        .await
        .unwrap();
        for (_, definition) in &mut named {
            *definition = definition[definition.find(" USING ").unwrap()..].to_owned();
        }
        named.sort();
        named
    }

    /// Replays swap in indexes under the names the live tables' indexes had: replay after
    /// replay, the tables keep the names their migrations gave them.
    #[sqlx::test(migrator = "projections::MIGRATOR")]
    async fn replays_keep_the_names_of_every_index(pool: sqlx::PgPool) {
        let store = event_store::EventStore::postgres(pool.clone());
        super::write_log(&store).await;
        let tables = ["order_detail", "sku_stock"];
        let mut migrated = Vec::new();
        for table in tables {
            migrated.push(named_indexes(&pool, table).await);
        }
        assert!(
            migrated[0]
                .iter()
                .any(|(name, _)| name == "order_detail_buyer"),
            "{migrated:?}"
        );
        for _ in 0..2 {
            for projection in super::Projection::ALL {
                projections::replay::replay(&store, projection, |_| {})
                    .await
                    .unwrap();
            }
            for (table, before) in tables.iter().zip(&migrated) {
                assert_eq!(&named_indexes(&pool, table).await, before, "{table}");
            }
        }
        assert_eq!(primary_keys(&pool).await, ["order_detail_pkey"]);
    }

    /// A replay builds the detail view's indexes after its rows (ADR 13): it swaps in a
    /// primary key and the indexes the migrations made, and a buyer's page is read from the
    /// buyer index, not sorted.
    #[sqlx::test(migrator = "projections::MIGRATOR")]
    async fn a_replay_rebuilds_every_index_of_the_detail_view(pool: sqlx::PgPool) {
        let store = event_store::EventStore::postgres(pool.clone());
        super::write_log(&store).await;
        let migrated = indexes_of(&pool, "order_detail").await;
        assert_eq!(migrated.len(), 4, "{migrated:?}");
        let key = primary_keys(&pool).await;
        projections::replay::replay(&store, super::Projection::Orders, |_| {})
            .await
            .unwrap();
        assert_eq!(indexes_of(&pool, "order_detail").await, migrated);
        let key_after = primary_keys(&pool).await;
        assert_eq!(
            (key.len(), key_after.len()),
            (1, 1),
            "a primary key before and after"
        );
        let mut tx = pool.begin().await.unwrap();
        sqlx::query("SET LOCAL enable_seqscan = off")
            .execute(&mut *tx)
            .await
            .unwrap();
        let plan: Vec<String> = sqlx::query_scalar(
            "EXPLAIN (FORMAT TEXT) SELECT order_id FROM order_detail WHERE buyer_id = 'b' \
             ORDER BY placed_at_us DESC, order_id DESC LIMIT 20",
        )
        .fetch_all(&mut *tx)
        .await
        .unwrap();
        let plan = plan.join("\n");
        assert!(
            plan.contains("Index Cond: (buyer_id = ") && !plan.contains("Sort"),
            "{plan}"
        );
    }

    #[sqlx::test(migrator = "projections::MIGRATOR")]
    async fn a_runner_started_twice_applies_nothing_twice(pool: sqlx::PgPool) {
        super::a_runner_started_twice_applies_nothing_twice(event_store::EventStore::postgres(
            pool,
        ))
        .await;
    }
}

mod sqlite {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_lag_gauges_fall_to_zero_once_the_runners_have_caught_up() {
        let (store, _dir) = super::sqlite_store().await;
        super::the_lag_gauges_fall_to_zero_once_the_runners_have_caught_up(store).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn replays_at_once_never_swap_in_half_written_tables() {
        let (store, _dir) = super::sqlite_store().await;
        super::replays_at_once_never_swap_in_half_written_tables(store).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn stock_moves_apply_only_on_top_of_the_previous_event() {
        let (store, _dir) = super::sqlite_store().await;
        super::stock_moves_apply_only_on_top_of_the_previous_event(store).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_replay_while_events_arrive_swaps_in_views_equal_to_the_log() {
        let (store, _dir) = super::sqlite_store().await;
        super::a_replay_while_events_arrive_swaps_in_views_equal_to_the_log(store).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reconcile_is_clean_until_a_view_row_is_tampered_with() {
        let (store, _dir) = super::sqlite_store().await;
        super::reconcile_is_clean_until_a_view_row_is_tampered_with(store).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn audit_shows_who_did_what_and_the_state_at_a_time() {
        let (store, _dir) = super::sqlite_store().await;
        super::audit_shows_who_did_what_and_the_state_at_a_time(store).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn killed_runners_apply_every_event_exactly_once() {
        let (store, _dir) = super::sqlite_store().await;
        super::killed_runners_apply_every_event_exactly_once(store).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_runner_started_twice_applies_nothing_twice() {
        let (store, _dir) = super::sqlite_store().await;
        super::a_runner_started_twice_applies_nothing_twice(store).await;
    }
}
