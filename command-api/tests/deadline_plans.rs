//! PostgreSQL-only: writes to the payment deadlines that must stay probes by order id however
//! many deadlines are pending.
#![allow(clippy::unwrap_used, clippy::expect_used, unreachable_pub)]

use serde_json::Value;
use sqlx::PgPool;

/// The rows every node reading `payment_deadlines` in `plan` (EXPLAIN ANALYZE JSON) went
/// through: those it returned and those its filter removed, over all its loops.
fn deadline_rows_read(plan: &Value) -> u64 {
    let own = if plan["Relation Name"] == "payment_deadlines" {
        let rows = plan["Actual Rows"].as_u64().unwrap();
        let removed = plan["Rows Removed by Filter"].as_u64().unwrap_or(0);
        (rows + removed) * plan["Actual Loops"].as_u64().unwrap()
    } else {
        0
    };
    let children = plan["Plans"]
        .as_array()
        .map_or(0, |plans| plans.iter().map(deadline_rows_read).sum());
    own + children
}

/// Settling a batch of paid orders read every pending deadline (and every entry a settled one
/// left in the pending index until vacuum): the planner preferred a scan of the partial index
/// on `state = 'pending'` to probes by id, so each payment batch cost as much as the backlog.
#[sqlx::test(migrator = "command_api::MIGRATOR")]
async fn settling_paid_orders_reads_their_deadlines_by_id_not_every_pending_one(pool: PgPool) {
    sqlx::query(
        "INSERT INTO payment_deadlines (order_id, due_at_ms, trade_no, amount_cents, state) \
         SELECT 'o-' || n, 1800000000000 + n, 'TR' || n, 1299, \
                CASE WHEN n % 10 = 0 THEN 'pending' ELSE 'done' END \
         FROM generate_series(1, 5000) AS n",
    )
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query("ANALYZE payment_deadlines")
        .execute(&pool)
        .await
        .unwrap();

    let explain = format!(
        "EXPLAIN (ANALYZE, FORMAT JSON) {}",
        include_str!("../src/payments/sql/settle_postgres.sql")
    );
    // the first executions and a generic plan, as a pooled prepared statement goes through them
    let mut conn = pool.acquire().await.unwrap();
    for (plan_cache_mode, ids) in [
        ("force_custom_plan", r#"["o-10", "o-20", "o-21"]"#),
        ("force_generic_plan", r#"["o-30", "o-40", "o-41"]"#),
    ] {
        sqlx::query(&format!("SET plan_cache_mode = {plan_cache_mode}"))
            .execute(&mut *conn)
            .await
            .unwrap();
        let (plan,): (Value,) = sqlx::query_as(&explain)
            .bind(ids)
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        let top = &plan[0]["Plan"];
        assert!(
            deadline_rows_read(top) <= 3,
            "{plan_cache_mode}: read more deadlines than the orders settled: {top:#}"
        );
    }
    let (settled,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM payment_deadlines WHERE outcome = 'settled' AND state = 'done'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        settled, 4,
        "the pending deadlines asked for, and only those"
    );
}
