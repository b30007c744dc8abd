//! The naive baseline counts only reservations the log holds, each once.

use std::time::Duration;

use sqlx::PgPool;

#[sqlx::test(migrations = false)]
async fn the_naive_baseline_counts_only_the_reservations_in_the_log(pool: PgPool) {
    sqlx::raw_sql(include_str!("../../bench/pg-events-schema.sql"))
        .execute(&pool)
        .await
        .unwrap();
    let report = loadgen::naive::hot_aggregate(
        pool.clone(),
        8,
        Duration::from_millis(300),
        Duration::from_secs(1),
    )
    .await
    .unwrap();
    let (reserved, orders): (i64, i64) = sqlx::query_as(
        "SELECT count(*), count(DISTINCT payload::jsonb -> 'StockReserved' ->> 'order_id') \
         FROM events WHERE aggregate_type = 'Sku' AND event_type = 'StockReserved'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(reserved, orders, "a reservation was written twice");
    assert!(report.operations > 0, "nothing was measured");
    assert!(
        report.operations < reserved as u64,
        "{} counted, {reserved} in the log (the warm-up's are not counted)",
        report.operations
    );
    assert!(
        report.extra["conflicts"] > 0.0,
        "eight clients never conflicted"
    );
}
