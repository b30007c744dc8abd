//! Helpers shared by the projections' test files.

use std::time::Duration;

use event_store::EventStore;

/// A migrated embedded store in a temporary folder (kept while the folder lives).
pub async fn sqlite_store() -> (EventStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("orders.db").display());
    let store = EventStore::connect(&url).await.unwrap();
    store
        .migrate(&projections::MIGRATOR, &projections::SQLITE_MIGRATOR)
        .await
        .unwrap();
    (store, dir)
}

/// A clean report at a head that holds all of `orders`. Reconcile catches the views up itself,
/// but on PostgreSQL other tests' transactions (in any database of the server) may hold the
/// log's horizon back for a moment (ADR 1): a first report may be clean at a head before the
/// last orders, or see a view behind.
pub async fn eventually_reconciled(
    store: &EventStore,
    orders: u64,
) -> projections::reconcile::Report {
    let mut last = None;
    for _ in 0..100 {
        let report = projections::reconcile::reconcile(store).await.unwrap();
        if report.is_clean() && report.orders_checked == orders {
            return report;
        }
        last = Some(report);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("reconcile never came out clean with {orders} orders: {last:?}");
}
