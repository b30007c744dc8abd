//! `orders status` on PostgreSQL when something holds the followers back: the lag of views
//! that no node follows, a dead letter, and the process holding the oldest transaction, in the
//! JSON report and in the table.

use std::str::FromStr;

use event_store::{Checkpoint, EventStore};
use serde_json::Value;
use sqlx::ConnectOptions;
use sqlx::postgres::PgConnectOptions;

use super::*;

/// The `application_name` of the test's own long transaction.
const HOLDER: &str = "status-test-holder";

#[tokio::test]
async fn status_shows_lag_dead_letters_and_who_holds_the_oldest_transaction() {
    let url = fresh_postgres().await;
    let migrated = orders(&["migrate", "--database-url", &url], &[]);
    assert!(migrated.status.success(), "{}", stderr(&migrated));
    // events appended while no follower runs: a server of the api role only
    {
        let (_server, base) = serve_with(&url, &[("ORDERS_ROLES", "api")]).await;
        let seller = token("shop-1", Role::Seller);
        placing::create_tea(&reqwest::Client::new(), &base, &seller).await;
    }
    let store = EventStore::connect(&url).await.expect("the store opens");
    let first = first_event(&store).await;
    store
        .park("orders", &first, "parked by the test", 10, 0)
        .await
        .expect("a dead letter is parked");
    // a transaction with a transaction id, left open
    let mut holder = PgConnectOptions::from_str(&url)
        .expect("a URL")
        .application_name(HOLDER)
        .connect()
        .await
        .expect("connects");
    let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut holder)
        .await
        .expect("its pid");
    sqlx::query("BEGIN")
        .execute(&mut holder)
        .await
        .expect("begins");
    sqlx::query("SELECT pg_current_xact_id()")
        .execute(&mut holder)
        .await
        .expect("takes a transaction id");

    // another test's transaction may be older for a moment: the cluster's oldest is shown
    let report = eventually_oldest(&url, pid).await;
    let follower = |name: &str| -> Value {
        report["followers"]
            .as_array()
            .and_then(|all| all.iter().find(|f| f["name"] == name).cloned())
            .unwrap_or_else(|| panic!("no {name} in {report}"))
    };
    let orders_view = follower("projection:orders");
    assert!(orders_view["lag_events"].as_u64() > Some(0), "{report}");
    assert!(orders_view["lag_seconds"].as_f64() > Some(0.0), "{report}");
    assert_eq!(orders_view["position"], 0, "{report}");
    assert_eq!(orders_view["holder"], Value::Null, "{report}");
    assert_eq!(orders_view["dead_letters"], 1, "{report}");
    assert_eq!(follower("projection:stock")["dead_letters"], 0, "{report}");
    let oldest = &report["oldest_writer"];
    assert_eq!(oldest["application_name"], HOLDER, "{report}");
    assert_eq!(oldest["state"], "idle in transaction", "{report}");
    assert_eq!(oldest["query"], "SELECT pg_current_xact_id()", "{report}");
    assert!(
        report["oldest_writer_seconds"].as_f64() > Some(0.0),
        "{report}"
    );

    let table = orders(&["status", "--database-url", &url], &[]);
    assert!(table.status.success(), "{}", stderr(&table));
    let text = stdout(&table);
    let row = text
        .lines()
        .find(|l| l.starts_with("projection:orders "))
        .unwrap_or_else(|| panic!("no orders row in\n{text}"));
    let cells: Vec<&str> = row.split_whitespace().collect();
    let lag = orders_view["lag_events"].to_string();
    assert_eq!(
        cells[..3],
        ["projection:orders", "0", lag.as_str()],
        "{text}"
    );
    assert_eq!(cells[4], "1", "one dead letter:\n{text}");
    assert!(
        row.ends_with("(none: no node of its role is running)"),
        "{text}"
    );
    let held = format!(
        "  held by pid {pid} ({HOLDER}, idle in transaction) on database {}: \
         SELECT pg_current_xact_id()",
        url.rsplit('/').next().unwrap_or_default()
    );
    assert!(text.lines().any(|l| l == held), "no {held:?} in\n{text}");

    drop(holder);
    drop(store);
    drop_database(&url).await;
}

/// The log's first event. A read of the log may stop short of it for a moment: a transaction
/// of another test that ended while the read looked counts as a writer (ADR 1).
async fn first_event(store: &EventStore) -> event_store::RecordedEvent {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let read = store
            .read_after(Checkpoint::default(), 1)
            .await
            .expect("the log reads");
        if let Some(first) = read.into_iter().next() {
            return first;
        }
        assert!(Instant::now() < deadline, "no event in the log after 20 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `orders status --json` once the oldest transaction it shows is `pid`'s.
async fn eventually_oldest(url: &str, pid: i32) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let url = url.to_owned();
        let output = tokio::task::spawn_blocking(move || {
            orders(&["status", "--database-url", &url, "--json"], &[])
        })
        .await
        .expect("status ran");
        assert!(output.status.success(), "{}", stderr(&output));
        let report: Value = serde_json::from_str(&stdout(&output)).expect("a JSON report");
        if report["oldest_writer"]["pid"] == pid {
            return report;
        }
        assert!(
            Instant::now() < deadline,
            "the oldest transaction is not the test's ({pid}): {report}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
