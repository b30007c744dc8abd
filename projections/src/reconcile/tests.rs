//! Reconcile at a position of the log: what happened after it is not a difference.
#![allow(clippy::unwrap_used)]

use domain::{OrderId, Quantity, SellerId, SkuCreated, SkuId, StockReserved};
use event_store::EventMetadata;

use super::*;

async fn store() -> (EventStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("orders.db").display());
    let store = EventStore::connect(&url).await.unwrap();
    store
        .migrate(&crate::MIGRATOR, &crate::SQLITE_MIGRATOR)
        .await
        .unwrap();
    (store, dir)
}

async fn append(store: &EventStore, version: u64, event: SkuEvent) {
    store
        .append::<Sku>("tea", version, &[event], &EventMetadata::default())
        .await
        .unwrap();
}

fn reserved(order: u64) -> SkuEvent {
    SkuEvent::StockReserved(StockReserved {
        order_id: OrderId::new(order).unwrap(),
        quantity: Quantity::new(2).unwrap(),
        at: Utc::now(),
    })
}

/// Reconcile reads the orders, then the SKUs; a placement that reserves in between (its
/// order not written yet) is not a difference at the position the orders were read at,
/// while the same reservation, left without an order for long, is one.
#[tokio::test]
async fn stock_reserved_after_the_compared_position_is_not_a_difference() {
    let (store, _dir) = store().await;
    let created = SkuEvent::SkuCreated(SkuCreated {
        sku: SkuId::parse("tea").unwrap(),
        seller: SellerId::parse("shop-1").unwrap(),
        initial_stock: 10,
        at: Utc::now(),
    });
    append(&store, 0, created).await;
    reconcile(&store).await.unwrap();
    let at = store.head().await.unwrap();
    append(&store, 1, reserved(8)).await;
    let models = ReadModels::new(&store);
    // long after: nothing that happened is recent any more
    let later = Utc::now() + chrono::Duration::hours(1);

    let report = reconcile_at(&store, &models, at, later, &mut |_| {})
        .await
        .unwrap();

    assert!(report.is_clean(), "{:?}", report.differences);
    let head = store.head().await.unwrap();
    let leaked = reconcile_at(&store, &models, head, later, &mut |_| {})
        .await
        .unwrap();
    assert_eq!(leaked.differences.len(), 1, "{:?}", leaked.differences);
    assert_eq!(leaked.differences[0].kind, "reserved-stock");
    // just now, the same reservation is a placement in flight
    let in_flight = reconcile_at(&store, &models, head, Utc::now(), &mut |_| {})
        .await
        .unwrap();
    assert!(in_flight.is_clean(), "{:?}", in_flight.differences);
}
