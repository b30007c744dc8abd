//! Payments and time, black box: the simulator, deadlines that fire (also after a restart),
//! lost callbacks aligned from the provider, the races of a payment against a timeout and a
//! buyer's cancel, and refunds paid out through the provider.

use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{NewProduct, TestApp, eventually};

const SKU: &str = "tea-500g";
const PRICE_CENTS: i64 = 1_299;
const STOCK: u32 = 10;
/// The short payment deadline of these tests.
pub const SHORT_TIMEOUT_SECS: u64 = 2;
/// How long after its deadline an order must be cancelled and its stock released.
const FIRE_WITHIN_MS: i64 = 1_000;

async fn setup(app: &TestApp) {
    app.create_product(NewProduct {
        sku: SKU,
        price_cents: PRICE_CENTS,
        stock: STOCK,
    })
    .await;
}

/// The buyer's view of the order (the read side lags the commands: wait until it shows).
async fn order_view(app: &TestApp, id: &str) -> Value {
    order_view_at(app, id, 1).await
}

/// The buyer's view of the order at `min_version` or later.
async fn order_view_at(app: &TestApp, id: &str, min_version: u64) -> Value {
    eventually(|| async {
        let response = app
            .client
            .get(app.url(&format!("/v1/orders/{id}?min_version={min_version}")))
            .bearer_auth(app.buyer("b-1"))
            .send()
            .await
            .unwrap();
        match response.status() {
            StatusCode::OK => Some(response.json::<Value>().await.unwrap()),
            StatusCode::NOT_FOUND | StatusCode::SERVICE_UNAVAILABLE => None,
            other => panic!("reading the order answered {other}"),
        }
    })
    .await
}

fn version_of(body: &Value) -> u64 {
    body["version"].as_u64().unwrap()
}

async fn place_one(app: &TestApp) -> (String, DateTime<Utc>) {
    let order = app.order("b-1", &[(SKU, 1, 1)]).await;
    let id = order["order_id"].as_str().unwrap().to_owned();
    let due: DateTime<Utc> = order["payment_due_at"].as_str().unwrap().parse().unwrap();
    (id, due)
}

/// The buyer pays the order at the simulator.
async fn pay_now(app: &TestApp, id: &str) -> reqwest::Response {
    app.client
        .post(app.url(&format!("/v1/simulator/orders/{id}/pay")))
        .bearer_auth(app.buyer("b-1"))
        .send()
        .await
        .unwrap()
}

/// Pays the order at the simulator (which opens its trade if the reaction has not yet);
/// answers the payment.
async fn pay_at_simulator(app: &TestApp, id: &str) -> Value {
    let response = pay_now(app, id).await;
    assert_eq!(response.status(), StatusCode::OK, "paying at the simulator");
    response.json().await.unwrap()
}

/// A buyer pays as soon as the placement is answered, faster than the reaction that opens the
/// order's trade (held here behind an open append to the log): the pay route opens the trade
/// itself, and the reaction, when it gets there, finds it open with the same number.
pub async fn an_order_is_payable_at_the_simulator_as_soon_as_it_is_placed(app: TestApp) {
    setup(&app).await;
    let held = app.hold_the_log().await;
    let (id, _) = place_one(&app).await;
    let response = pay_now(&app, &id).await;
    assert_eq!(response.status(), StatusCode::OK);
    let payment: Value = response.json().await.unwrap();
    held.rollback().await.unwrap();
    let paid = order_view_at(&app, &id, 2).await;
    assert_eq!(paid["status"], "Paid", "{paid}");
    assert_eq!(paid["payment"]["txn_id"], payment["txn_id"], "{paid}");
    // the reaction reaches the order later and opens nothing twice: paying again pays nothing
    let again = pay_at_simulator(&app, &id).await;
    assert_eq!(again["trade_no"], payment["trade_no"], "{again}");
    assert_eq!(again["callback"], "already_paid", "{again}");
}

/// The buyer cancels at the order's version as last read (reactions, and a lagging view, may
/// make that stale: then read again, as a client would). Answers the status and, on success,
/// the new version.
async fn cancel(app: &TestApp, id: &str, min_version: u64) -> (StatusCode, Option<u64>) {
    loop {
        let version = order_view_at(app, id, min_version).await["version"].clone();
        let response = app
            .client
            .post(app.url(&format!("/v1/orders/{id}/cancel")))
            .bearer_auth(app.buyer("b-1"))
            .header("If-Match", format!("\"{version}\""))
            .send()
            .await
            .unwrap();
        let status = response.status();
        if status == StatusCode::OK {
            return (status, Some(version_of(&response.json().await.unwrap())));
        }
        if status != StatusCode::PRECONDITION_FAILED {
            return (status, None);
        }
    }
}

async fn stock_is(app: &TestApp, available: u64, sold: u64) -> bool {
    let stock = app.stock(SKU).await;
    stock["available"].as_u64() == Some(available) && stock["sold"].as_u64() == Some(sold)
}

async fn sleep_until(at: DateTime<Utc>) {
    if let Ok(wait) = (at - Utc::now()).to_std() {
        tokio::time::sleep(wait).await;
    }
}

/// Polls `check` for up to `secs` seconds.
async fn within<T, F, Fut>(secs: u64, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let until = std::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            std::time::Instant::now() < until,
            "the condition did not hold within {secs} s"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

pub async fn an_unpaid_order_is_cancelled_and_its_stock_released_within_a_second_of_its_deadline(
    app: TestApp,
) {
    setup(&app).await;
    let (id, due) = place_one(&app).await;
    eventually(|| async { stock_is(&app, u64::from(STOCK) - 1, 0).await.then_some(()) }).await;
    sleep_until(due - chrono::Duration::milliseconds(300)).await;
    assert_eq!(order_view(&app, &id).await["status"], "PendingPayment");
    within(SHORT_TIMEOUT_SECS + 3, || async {
        let order = order_view(&app, &id).await;
        (order["status"] == "Cancelled" && stock_is(&app, u64::from(STOCK), 0).await).then_some(())
    })
    .await;
    let late_ms = (Utc::now() - due).num_milliseconds();
    assert!(
        late_ms <= FIRE_WITHIN_MS,
        "cancelled and released {late_ms} ms after the deadline"
    );
    let order = order_view(&app, &id).await;
    assert_eq!(order["cancel_reason"], "PaymentTimeout");
    // the timer observes its lateness after it has also marked the deadline done, a write of
    // its own: the views can show the cancellation first
    let metrics = app.metrics_with("payment_deadlines_fired_total").await;
    assert!(
        metrics.contains("payment_deadline_lateness_seconds_count 1"),
        "{metrics}"
    );
    assert!(metrics.contains("payment_deadlines_fired_total{outcome=\"cancelled\"} 1"));
}

pub async fn a_dropped_callback_is_aligned_from_the_provider_at_the_deadline(app: TestApp) {
    setup(&app).await;
    let (id, due) = place_one(&app).await;
    let payment = pay_at_simulator(&app, &id).await;
    assert_eq!(payment["callback"], "dropped");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        order_view(&app, &id).await["status"],
        "PendingPayment",
        "no callback arrived"
    );
    let order = within(SHORT_TIMEOUT_SECS + 3, || async {
        let order = order_view(&app, &id).await;
        (order["status"] == "Paid").then_some(order)
    })
    .await;
    assert!(Utc::now() >= due, "aligned at the deadline, not before");
    assert_eq!(order["payment"]["txn_id"], payment["txn_id"]);
    assert_eq!(order["payment"]["amount_cents"], PRICE_CENTS);
    eventually(|| async { stock_is(&app, u64::from(STOCK) - 1, 1).await.then_some(()) }).await;
}

pub async fn a_payment_at_the_simulator_pays_the_order_through_its_callback(app: TestApp) {
    setup(&app).await;
    let (id, _) = place_one(&app).await;
    let payment = pay_at_simulator(&app, &id).await;
    assert_eq!(payment["callback"], "duplicated");
    let order = eventually(|| async {
        let order = order_view(&app, &id).await;
        (order["status"] == "Paid").then_some(order)
    })
    .await;
    assert_eq!(order["payment"]["txn_id"], payment["txn_id"]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        order_view(&app, &id).await["version"],
        2,
        "the duplicated callback recorded nothing"
    );
    let again = pay_at_simulator(&app, &id).await;
    assert_eq!(again["callback"], "already_paid");
    assert_eq!(again["txn_id"], payment["txn_id"]);
}

pub async fn deadlines_pending_across_a_restart_still_fire(app: TestApp) {
    const ORDERS: usize = 3;
    setup(&app).await;
    let placed = join_all((0..ORDERS).map(|_| place_one(&app))).await;
    let pool = sqlx::PgPool::connect(&app.settings.database_url)
        .await
        .unwrap();
    eventually(|| async {
        let pending: i64 =
            sqlx::query_scalar("SELECT count(*) FROM payment_deadlines WHERE state = 'pending'")
                .fetch_one(&pool)
                .await
                .unwrap();
        (pending == ORDERS as i64).then_some(())
    })
    .await;
    let settings = app.settings.clone();
    let app = app.restart_with(settings).await;
    let last_due = placed.iter().map(|(_, due)| *due).max().unwrap();
    assert!(Utc::now() < last_due, "restarted before the deadlines");
    within(SHORT_TIMEOUT_SECS + 5, || async {
        for (id, _) in &placed {
            if order_view(&app, id).await["status"] != "Cancelled" {
                return None;
            }
        }
        stock_is(&app, u64::from(STOCK), 0).await.then_some(())
    })
    .await;
}

/// What arrives, in the order of a race.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The provider's payment notification.
    Notify,
    /// The payment deadline passes.
    Timeout,
    /// The buyer cancels.
    BuyerCancel,
}

/// Runs `steps` in that order against one order and checks the outcome: the first of a
/// payment and a cancellation wins; a payment after close is refunded in full; a cancel that
/// finds the order paid does nothing.
pub async fn race(app: TestApp, steps: [Step; 3]) {
    setup(&app).await;
    let (id, due) = place_one(&app).await;
    let txn = format!("T-race-{id}");
    // the version every step so far has reached, for reading our own writes
    let mut seen = 1;
    for step in steps {
        let state = order_view_at(&app, &id, seen).await["status"].clone();
        match step {
            Step::Notify => {
                let response = app.notify_payment(&id, &txn, PRICE_CENTS).await;
                assert_eq!(response.status(), StatusCode::OK, "notify on {state}");
                seen = version_of(&response.json().await.unwrap());
            }
            Step::BuyerCancel => {
                let expected = if state == "Paid" {
                    StatusCode::CONFLICT
                } else {
                    StatusCode::OK
                };
                let (status, version) = cancel(&app, &id, seen).await;
                assert_eq!(status, expected, "cancel on {state}");
                seen = version.unwrap_or(seen);
            }
            Step::Timeout => {
                sleep_until(due).await;
                if state == "PendingPayment" {
                    seen = within(SHORT_TIMEOUT_SECS + 3, || async {
                        let order = order_view_at(&app, &id, seen).await;
                        (order["status"] == "Cancelled").then(|| version_of(&order))
                    })
                    .await;
                } else {
                    // give a (wrong) firing the time to show
                    tokio::time::sleep(Duration::from_millis(1_500)).await;
                }
            }
        }
    }
    let paid_first = steps[0] == Step::Notify;
    let order = eventually(|| async {
        let order = order_view_at(&app, &id, seen).await;
        let settled = paid_first
            || order["refunds"][0]["completed_at"]
                .as_str()
                .is_some_and(|at| !at.is_empty());
        settled.then_some(order)
    })
    .await;
    if paid_first {
        assert_eq!(order["status"], "Paid");
        assert_eq!(order["payment"]["txn_id"], txn.as_str());
        assert_eq!(order["refunds"], json!([]));
        eventually(|| async { stock_is(&app, u64::from(STOCK) - 1, 1).await.then_some(()) }).await;
    } else {
        let reason = if steps[0] == Step::Timeout {
            "PaymentTimeout"
        } else {
            "BuyerCancelled"
        };
        assert_eq!(order["status"], "Cancelled");
        assert_eq!(order["cancel_reason"], reason);
        assert_eq!(order["payment"], Value::Null);
        let refunds = order["refunds"].as_array().unwrap();
        assert_eq!(refunds.len(), 1, "{refunds:?}");
        assert_eq!(refunds[0]["kind"], "paid_after_close");
        assert_eq!(refunds[0]["amount_cents"], PRICE_CENTS);
        eventually(|| async { stock_is(&app, u64::from(STOCK), 0).await.then_some(()) }).await;
    }
}

pub async fn item_refunds_are_paid_out_by_the_provider_and_never_exceed_what_was_paid(
    app: TestApp,
) {
    setup(&app).await;
    let order = app.order("b-1", &[(SKU, 3, 1)]).await;
    let id = order["order_id"].as_str().unwrap().to_owned();
    let paid = app.notify_payment(&id, "T-refunds", 3 * PRICE_CENTS).await;
    assert_eq!(paid.status(), StatusCode::OK);
    let seen = version_of(&paid.json().await.unwrap());
    // at the version last read; a stale one (the refund reaction moves the order on) is read
    // again, as a client would
    let refund = |quantity: u32, min_version: u64| {
        let app = &app;
        let id = id.clone();
        async move {
            loop {
                let version = order_view_at(app, &id, min_version).await["version"].clone();
                let response = app
                    .client
                    .post(app.url(&format!("/v1/orders/{id}/refunds")))
                    .bearer_auth(app.buyer("b-1"))
                    .header("If-Match", format!("\"{version}\""))
                    .json(&json!({ "items": [{ "line": 0, "quantity": quantity }] }))
                    .send()
                    .await
                    .unwrap();
                if response.status() != StatusCode::PRECONDITION_FAILED {
                    return response;
                }
            }
        }
    };
    let requested = refund(1, seen).await;
    assert_eq!(requested.status(), StatusCode::OK);
    // paid out: RefundCompleted follows RefundRequested
    let completed = version_of(&requested.json().await.unwrap()) + 1;
    let order = within(10, || async {
        let order = order_view_at(&app, &id, completed).await;
        (order["status"] == "Paid").then_some(order)
    })
    .await;
    assert_eq!(order["refunded_cents"], PRICE_CENTS);
    assert!(order["refunds"][0]["completed_at"].is_string());

    let requested = refund(2, version_of(&order)).await;
    assert_eq!(requested.status(), StatusCode::OK);
    let completed = version_of(&requested.json().await.unwrap()) + 1;
    let order = within(10, || async {
        let order = order_view_at(&app, &id, completed).await;
        (order["status"] == "Refunded").then_some(order)
    })
    .await;
    assert_eq!(order["refunded_cents"], 3 * PRICE_CENTS);
    let seen = version_of(&order);
    assert!(
        refund(1, seen).await.status().is_client_error(),
        "nothing is left to refund"
    );
}

/// Several timers on one database: claims never overlap. (Due times far in the future, so the
/// app's own timer leaves these rows alone.)
pub async fn several_timers_never_claim_one_deadline_twice(app: TestApp) {
    const DEADLINES: usize = 600;
    const TIMERS: usize = 4;
    const BATCH: usize = 25;
    let store = command_api::startup::open_store(&app.settings)
        .await
        .unwrap();
    let deadlines = command_api::payments::DeadlineStore::new(store.db());
    let far_ms: i64 = 4_102_444_800_000; // 2100-01-01
    let rows: Vec<_> = (0..DEADLINES)
        .map(|i| command_api::payments::NewDeadline {
            order_id: format!("{}", 9_000_000 + i),
            due_at_ms: far_ms + i64::try_from(i).unwrap(),
            trade_no: format!("TRX{i}"),
            amount_cents: 100,
        })
        .collect();
    let inserted = deadlines.insert_many(&rows).await.unwrap();
    assert_eq!(inserted.len(), DEADLINES);
    let now = far_ms + 10_000;
    let claims = join_all((0..TIMERS).map(|_| {
        let deadlines = deadlines.clone();
        async move {
            let mut mine = Vec::new();
            loop {
                let batch = deadlines.claim_due(now, now + 60_000, BATCH).await.unwrap();
                if batch.is_empty() {
                    return mine;
                }
                mine.extend(batch.into_iter().map(|d| d.order_id));
            }
        }
    }))
    .await;
    let mut all: Vec<String> = claims.iter().flatten().cloned().collect();
    let claimed = all.len();
    all.sort();
    all.dedup();
    assert_eq!((claimed, all.len()), (DEADLINES, DEADLINES));
    assert!(
        claims.iter().filter(|mine| !mine.is_empty()).count() > 1,
        "the timers shared the work"
    );
}

/// Recording deadlines keeps a recorded one as it is, records a new order once however often
/// one call names it (the first of its rows), and answers the orders it recorded.
pub async fn a_recorded_deadline_is_kept_as_it_is(app: TestApp) {
    let store = command_api::startup::open_store(&app.settings)
        .await
        .unwrap();
    // far in the future: the app's own timer must not fire them meanwhile
    let far_ms: i64 = 4_102_444_800_000; // 2100-01-01
    let deadline =
        |order_id: &str, due_in_ms: i64, trade_no: &str| command_api::payments::NewDeadline {
            order_id: order_id.to_owned(),
            due_at_ms: far_ms + due_in_ms,
            trade_no: trade_no.to_owned(),
            amount_cents: 100,
        };
    let deadlines = command_api::payments::DeadlineStore::new(store.db());
    let mut first = deadlines
        .insert_many(&[
            deadline("7001", 1_000, "TR1"),
            deadline("7002", 2_000, "TR2"),
        ])
        .await
        .unwrap();
    first.sort();
    assert_eq!(first, ["7001", "7002"]);
    let second = deadlines
        .insert_many(&[
            deadline("7002", 9_000, "TR9"),
            deadline("7003", 3_000, "TR3"),
            deadline("7003", 4_000, "TR4"),
        ])
        .await
        .unwrap();
    assert_eq!(second, ["7003"]);
    // read back from the table, not from what this store remembers recording
    let table = command_api::payments::DeadlineStore::new(store.db());
    for (order_id, trade_no) in [("7001", "TR1"), ("7002", "TR2"), ("7003", "TR3")] {
        assert_eq!(
            table.trade_no(order_id).await.unwrap().as_deref(),
            Some(trade_no),
            "order {order_id}"
        );
    }
    assert_eq!(table.next_due_ms(0).await.unwrap(), Some(far_ms + 1_000));
}

/// Measures the timer: places `orders` unpaid orders (with a long deadline, so nothing fires
/// meanwhile), waits until every deadline is recorded, then moves their due times into one
/// window of `window_secs` starting 15 s later, and waits until all have fired. Prints p50,
/// p99 and max of fired time minus due time from the deadline table. Not a pass/fail test:
/// run by hand (see the README's payments section).
#[allow(clippy::print_stderr)] // the measurement is the output
pub async fn measure_deadline_lateness(app: TestApp, orders: usize, window_secs: u64) {
    const SKUS: usize = 50;
    const CONCURRENCY: usize = 32;
    const LEAD_MS: i64 = 15_000;
    use futures::StreamExt;
    for i in 0..SKUS {
        app.create_product(NewProduct {
            sku: &format!("sku-{i}"),
            price_cents: 100,
            stock: 100_000,
        })
        .await;
    }
    let started = std::time::Instant::now();
    futures::stream::iter(0..orders)
        .for_each_concurrent(CONCURRENCY, |i| {
            let app = &app;
            async move {
                let buyer = format!("b-{i}");
                let (id, token) = app.checkout(&buyer).await;
                let sku = format!("sku-{}", i % SKUS);
                let placed = app.place_order(&buyer, &id, &token, &[(&sku, 1, 1)]).await;
                assert_eq!(placed.status(), StatusCode::CREATED);
            }
        })
        .await;
    let placing = started.elapsed();
    let pool = sqlx::PgPool::connect(&app.settings.database_url)
        .await
        .unwrap();
    within(600, || async {
        let count: i64 = sqlx::query_scalar("SELECT count(*) FROM payment_deadlines")
            .fetch_one(&pool)
            .await
            .unwrap();
        (usize::try_from(count).unwrap() == orders).then_some(())
    })
    .await;
    let recording = started.elapsed();
    let window_ms = i64::try_from(window_secs * 1_000).unwrap();
    sqlx::query(
        "UPDATE payment_deadlines d SET due_at_ms = $1 + (r.n - 1) * $2 / $3 \
         FROM (SELECT order_id, row_number() OVER (ORDER BY order_id) AS n \
               FROM payment_deadlines) r \
         WHERE d.order_id = r.order_id",
    )
    .bind(Utc::now().timestamp_millis() + LEAD_MS)
    .bind(window_ms)
    .bind(i64::try_from(orders).unwrap())
    .execute(&pool)
    .await
    .unwrap();
    within(window_secs + 600, || async {
        let pending: i64 =
            sqlx::query_scalar("SELECT count(*) FROM payment_deadlines WHERE state = 'pending'")
                .fetch_one(&pool)
                .await
                .unwrap();
        (pending == 0).then_some(())
    })
    .await;
    let (fired, p50, p99, max): (i64, f64, f64, i64) = sqlx::query_as(
        "SELECT count(*), \
                percentile_cont(0.5) WITHIN GROUP (ORDER BY fired_at_ms - due_at_ms), \
                percentile_cont(0.99) WITHIN GROUP (ORDER BY fired_at_ms - due_at_ms), \
                max(fired_at_ms - due_at_ms) \
         FROM payment_deadlines WHERE outcome = 'cancelled'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    eprintln!(
        "{orders} orders placed in {:.1} s, deadlines recorded after {:.1} s; \
         {fired} due within {window_secs} s fired (cancelled); \
         lateness p50 {p50:.0} ms, p99 {p99:.0} ms, max {max} ms",
        placing.as_secs_f64(),
        recording.as_secs_f64(),
    );
    assert_eq!(usize::try_from(fired).unwrap(), orders);
}

/// With the default 15-minute deadline and a manual clock, an unpaid order is cancelled and
/// its stock released once the clock is moved past its deadline: no test sleeps 15 minutes.
pub async fn a_deadline_fires_when_the_clock_is_moved_past_it(
    app: TestApp,
    clock: std::sync::Arc<ids::ManualClock>,
) {
    setup(&app).await;
    let (id, due) = place_one(&app).await;
    eventually(|| async { stock_is(&app, u64::from(STOCK) - 1, 0).await.then_some(()) }).await;
    let now = Utc::now();
    assert!(due - now > chrono::Duration::minutes(14), "due at {due}");
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(order_view(&app, &id).await["status"], "PendingPayment");
    let ahead = (due - now).num_milliseconds() + 1_000;
    clock.advance_ms(u64::try_from(ahead).unwrap());
    // the timer sleeps up to 5 s of real time while nothing is due (it does not see the
    // clock jump), then fires, and the cancellation and its release reach the views
    within(10, || async {
        let order = order_view(&app, &id).await;
        (order["status"] == "Cancelled" && stock_is(&app, u64::from(STOCK), 0).await).then_some(())
    })
    .await;
    assert_eq!(
        order_view(&app, &id).await["cancel_reason"],
        "PaymentTimeout"
    );
}
