//! PostgreSQL-only: reads that must stay index probes however long the log grows.

use serde_json::Value;
use sqlx::PgPool;

/// The largest row count any node scanning `events` returns in `plan` (EXPLAIN ANALYZE JSON).
fn largest_events_scan(plan: &Value) -> u64 {
    let own = if plan["Relation Name"] == "events" {
        plan["Actual Rows"].as_u64().unwrap()
    } else {
        0
    };
    let children = plan["Plans"].as_array().map_or(0, |plans| {
        plans.iter().map(largest_events_scan).max().unwrap_or(0)
    });
    own.max(children)
}

/// Loading a placement's products read every product's events once the catalogue grew (a hash
/// join over the whole type): each placement then cost as much as the catalogue.
#[sqlx::test(migrator = "event_store::MIGRATOR")]
async fn several_streams_are_read_by_their_ids_not_by_their_type(pool: PgPool) {
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, \
         payload, metadata) \
         SELECT 'Counter', 'c-' || n, s, 'Added', '2.0', '{\"Added\":{\"amount\":1}}', '{}' \
         FROM generate_series(1, 5000) AS n, generate_series(1, 2) AS s",
    )
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query("ANALYZE events").execute(&pool).await.unwrap();

    let explain = format!(
        "EXPLAIN (ANALYZE, FORMAT JSON) {}",
        include_str!("../../src/postgres/read_streams.sql")
    );
    // the first executions and a generic plan, as a pooled prepared statement goes through them
    let mut conn = pool.acquire().await.unwrap();
    for plan_cache_mode in ["force_custom_plan", "force_generic_plan"] {
        sqlx::query(&format!("SET plan_cache_mode = {plan_cache_mode}"))
            .execute(&mut *conn)
            .await
            .unwrap();
        let (plan,): (Value,) = sqlx::query_as(&explain)
            .bind("Counter")
            .bind(r#"["c-17", "c-4242"]"#)
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        let top = &plan[0]["Plan"];
        assert_eq!(top["Actual Rows"], 4, "{plan_cache_mode}: {top:#}");
        assert!(
            largest_events_scan(top) <= 4,
            "{plan_cache_mode}: scanned more than the streams asked for: {top:#}"
        );
    }
}
