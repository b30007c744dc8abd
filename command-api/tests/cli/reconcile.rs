//! `orders reconcile`: no false differences beside a busy server; a view that stays behind is
//! lag (exit 2, a `lagging:` line each), not differences; its progress, also with
//! `--catch-up`, is plain lines into a pipe.

use super::*;

/// Reconcile beside a server that keeps placing orders compares at one position of the log:
/// the orders placed while it reads are not differences (they were "missing" from the views).
/// Then a forged view row is one (exit 1).
#[tokio::test]
async fn reconcile_beside_a_running_writer_reports_no_false_differences() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let db = sqlite_url(&dir);
    let (_server, base) = serve(&db).await;
    let client = reqwest::Client::new();
    placing::create_tea(&client, &base, &token("shop-1", Role::Seller)).await;
    let stop = Arc::new(AtomicBool::new(false));
    let placed = Arc::new(AtomicU64::new(0));
    let writers: Vec<_> = (0..4)
        .map(|n| {
            tokio::spawn(place_until(
                base.clone(),
                format!("buyer-{n}"),
                Arc::clone(&stop),
                Arc::clone(&placed),
            ))
        })
        .collect();
    let mut runs = Vec::new();
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let db = db.clone();
        let output =
            tokio::task::spawn_blocking(move || orders(&["reconcile", "--database-url", &db], &[]))
                .await
                .expect("reconcile ran");
        runs.push((placed.load(Ordering::Relaxed), output));
    }
    stop.store(true, Ordering::Relaxed);
    for writer in writers {
        writer.await.expect("a writer stopped");
    }
    for (placed, output) in &runs {
        assert_eq!(
            output.status.code(),
            Some(0),
            "after {placed} orders:\n{}{}",
            stdout(output),
            stderr(output)
        );
    }
    let (placed, _) = runs.last().expect("reconcile ran");
    assert!(*placed > 0, "no order was placed while reconcile ran");

    let pool = sqlx::SqlitePool::connect(&db)
        .await
        .expect("the store opens");
    sqlx::query(
        "UPDATE order_detail SET content_hash = 'forged' \
         WHERE order_id = (SELECT min(order_id) FROM order_detail)",
    )
    .execute(&pool)
    .await
    .expect("a view row is forged");
    let forged = orders(&["reconcile", "--database-url", &db], &[]);
    assert_eq!(forged.status.code(), Some(1), "{}", stderr(&forged));
    assert!(
        stdout(&forged).lines().any(|l| l.starts_with("hash ")),
        "{}",
        stdout(&forged)
    );
}

/// A fresh PostgreSQL database with a product and an order in its log, which no follower
/// has read: the server that wrote them played the api role only.
async fn a_log_no_view_has_read() -> String {
    let url = fresh_postgres().await;
    let migrated = orders(&["migrate", "--database-url", &url], &[]);
    assert!(migrated.status.success(), "{}", stderr(&migrated));
    let (_server, base) = serve_with(&url, &[("ORDERS_ROLES", "api")]).await;
    let client = reqwest::Client::new();
    placing::create_tea(&client, &base, &token("shop-1", Role::Seller)).await;
    let placed = placing::place_tea(&client, &base, &token("buyer-1", Role::Buyer)).await;
    assert!(placed.is_some_and(|(_, ok)| ok), "the order is placed");
    url
}

/// With no projector running, the views stay at position 0: reconcile waits `--wait-secs`,
/// compares at the position they reached (nothing differs there) and says which view lags,
/// exiting 2: it could not compare up to the head.
#[tokio::test]
async fn a_view_that_stays_behind_is_lag_not_a_difference() {
    let url = a_log_no_view_has_read().await;
    let started = Instant::now();
    let output = orders(
        &["reconcile", "--database-url", &url, "--wait-secs", "1"],
        &[],
    );
    let (out, err) = (stdout(&output), stderr(&output));
    assert_eq!(output.status.code(), Some(2), "{out}{err}");
    assert!(started.elapsed() < Duration::from_secs(15), "{err}");
    let first = out.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("reconciled 0 orders and ")
            && first.contains(" at log position 0 (head ")
            && first.ends_with("): 0 difference(s)"),
        "{out}"
    );
    let head: i64 = first
        .split("(head ")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .and_then(|head| head.parse().ok())
        .unwrap_or_else(|| panic!("no head in {first}"));
    assert!(head > 0, "{out}");
    for view in ["orders", "stock"] {
        let lagging =
            format!("lagging: the {view} projection reached position 0 of {head} within 1 s");
        assert!(
            out.lines().any(|l| l == lagging),
            "no {lagging:?} in\n{out}"
        );
    }
    assert_eq!(out.lines().count(), 3, "only the lag is reported:\n{out}");
    assert!(
        err.contains("the views did not reach the log's head"),
        "{err}"
    );
    // the progress into a pipe: plain lines, the last when the comparison is done
    assert!(!err.contains('\r'), "{err:?}");
    assert!(
        err.lines()
            .any(|l| l == "orders: reconcile read every order and SKU"),
        "{err}"
    );
    drop_database(&url).await;
}

/// `--catch-up` applies what the views lack itself, then compares at the head, with its
/// progress as plain lines: the step, the orders counted, the end.
#[tokio::test]
async fn catching_up_shows_its_progress_in_plain_lines() {
    let url = a_log_no_view_has_read().await;
    let output = orders(&["reconcile", "--database-url", &url, "--catch-up"], &[]);
    let (out, err) = (stdout(&output), stderr(&output));
    assert_eq!(output.status.code(), Some(0), "{out}{err}");
    assert!(
        out.starts_with("reconciled 1 orders and 1 SKUs at log position "),
        "{out}"
    );
    assert!(!err.contains('\r'), "{err:?}");
    let lines: Vec<&str> = err.lines().collect();
    let at = |line: &str| lines.iter().position(|l| *l == line);
    let step = at("orders: reconciling: applying the events the views lack");
    let counted = lines
        .iter()
        .position(|l| l.starts_with("orders: reconciling: 1/1 orders (100%)"));
    let end = at("orders: reconcile read every order and SKU");
    assert!(step.is_some() && step < counted && counted < end, "{err}");
    drop_database(&url).await;
}
