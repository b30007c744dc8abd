//! The cold archive, black box: settled orders leave the hot lists for the archive (by the
//! server's archiver in its window, and by `orders archive` on demand), are still answered by
//! their id, listed with `archived=true`, come back on a late event, and their ids are never
//! used again.

use chrono::TimeDelta;
use projections::ArchiveWindow;
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{NewProduct, TestApp, etag, eventually, page_ids};

const TEA: NewProduct<'static> = NewProduct {
    sku: "tea-500g",
    price_cents: 1299,
    stock: 100,
};

/// A server whose archiver runs at any time of day, every second, on orders settled at all.
pub fn archive_at_once(settings: &mut command_api::config::Settings) {
    settings.archive_after_days = 0;
    settings.archive_window = ArchiveWindow::ALWAYS;
    settings.archive_interval_secs = 1;
}

async fn cancel(app: &TestApp, buyer: &str, id: &str) {
    let cancelled = app.cancel_order(buyer, id, 1).await;
    assert_eq!(cancelled.status(), StatusCode::OK);
}

/// Waits until the buyer's archive lists `id` at `version` or later.
async fn archived(app: &TestApp, buyer: &str, id: &str, version: u64) -> Value {
    eventually(|| async {
        let page = app
            .orders_page("buyers", &app.buyer(buyer), "archived=true")
            .await;
        page["orders"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["order_id"] == id && o["version"].as_u64() >= Some(version))
            .cloned()
    })
    .await
}

/// A cancelled order goes to the archive by the server's archiver; it is still answered by its
/// id and listed with `archived=true`; placing its id again answers the archived order (or 409
/// with other content), never a new one; a late payment brings it back, it is refunded, and
/// it is archived again.
pub async fn an_archived_order_is_answered_and_its_id_never_used_again(app: TestApp) {
    app.create_product(TEA).await;
    let (order_id, token) = app.checkout("b-1").await;
    let placed = app
        .place_order("b-1", &order_id, &token, &[("tea-500g", 2, 1)])
        .await;
    assert_eq!(placed.status(), StatusCode::CREATED);
    let open = app.order("b-1", &[("tea-500g", 1, 1)]).await;
    let open = open["order_id"].as_str().unwrap().to_owned();
    cancel(&app, "b-1", &order_id).await;

    let in_archive = archived(&app, "b-1", &order_id, 2).await;
    assert_eq!(in_archive["status"], "Cancelled");
    let hot = app.orders_page("buyers", &app.buyer("b-1"), "").await;
    assert_eq!(
        page_ids(&hot),
        [open.as_str()],
        "the open order stays hot, alone"
    );
    let sellers = app
        .orders_page("sellers", &app.seller(), "archived=true")
        .await;
    assert_eq!(page_ids(&sellers), [order_id.as_str()]);
    sellers_hot_list_is(&app, &open).await;

    // the detail route falls back to the archive, for its buyer and nobody else
    let detail = app.get_order_at(&app.buyer("b-1"), &order_id, 2).await;
    assert_eq!(detail.status(), StatusCode::OK);
    assert_eq!(etag(&detail), "\"2\"");
    let detail: Value = detail.json().await.unwrap();
    assert_eq!(detail, in_archive);
    let stranger = app.get_order(&app.buyer("b-2"), &order_id).await;
    assert_eq!(stranger.status(), StatusCode::NOT_FOUND);

    // the archived order's id: the same placement answers the archived order, other content is
    // a conflict; no new order, no stock reserved again
    let again = app
        .place_order("b-1", &order_id, &token, &[("tea-500g", 2, 1)])
        .await;
    assert_eq!(again.status(), StatusCode::OK);
    let again: Value = again.json().await.unwrap();
    assert_eq!(
        (&again["status"], &again["version"]),
        (&detail["status"], &detail["version"])
    );
    let other = app
        .place_order("b-1", &order_id, &token, &[("tea-500g", 5, 1)])
        .await;
    assert_eq!(other.status(), StatusCode::CONFLICT);
    let stock = app.stock("tea-500g").await;
    assert_eq!(
        (stock["available"].as_u64(), stock["reserved"].as_u64()),
        (Some(99), Some(1))
    );
    let hot = app.orders_page("buyers", &app.buyer("b-1"), "").await;
    assert_eq!(page_ids(&hot), [open.as_str()]);
    let every = app
        .orders_page("buyers", &app.buyer("b-1"), "archived=true")
        .await;
    assert_eq!(page_ids(&every), [order_id.as_str()]);

    // a payment after close: the order comes back with it, is refunded by the provider, and,
    // settled again, goes back to the archive with every event applied
    let late = app.notify_payment(&order_id, "T-late", 2 * 1299).await;
    assert_eq!(late.status(), StatusCode::OK);
    let back = app.get_order_at(&app.buyer("b-1"), &order_id, 3).await;
    assert_eq!(back.status(), StatusCode::OK);
    let refunded = archived(&app, "b-1", &order_id, 5).await;
    assert_eq!(refunded["refunds"][0]["kind"], "paid_after_close");
    assert!(refunded["refunds"][0]["completed_at"].is_string());
    assert_eq!(refunded["after_close_owed_cents"], 0);
    let hot = app.orders_page("buyers", &app.buyer("b-1"), "").await;
    assert_eq!(page_ids(&hot), [open.as_str()]);
    sellers_hot_list_is(&app, &open).await;
}

/// Waits until the seller's hot list is the one order `id` (with shards, the archiver drops
/// an archived order from the seller view just after the archive's commit).
async fn sellers_hot_list_is(app: &TestApp, id: &str) {
    eventually(|| async {
        let hot = app.orders_page("sellers", &app.seller(), "").await;
        (page_ids(&hot) == [id]).then_some(())
    })
    .await;
}

/// `orders archive` on demand, as the command line runs it (the archiver of the `projections`
/// crate on the server's database): batches of the given size until none is left, while the
/// server serves; the archive lists page like the hot ones.
pub async fn orders_archive_moves_settled_orders_in_batches_on_demand(app: TestApp) {
    app.create_product(TEA).await;
    let mut cancelled = Vec::new();
    for _ in 0..5 {
        let order = app.order("b-1", &[("tea-500g", 1, 1)]).await;
        let id = order["order_id"].as_str().unwrap().to_owned();
        cancel(&app, "b-1", &id).await;
        cancelled.push(id);
    }
    let open = app.order("b-1", &[("tea-500g", 1, 1)]).await;
    app.read_side_settled().await;

    let store = command_api::startup::open_store(&app.settings)
        .await
        .unwrap();
    // `orders archive --older-than-days 90`: nothing is that old
    let default = projections::Archiver::new(&store, TimeDelta::days(90), 500);
    assert_eq!(default.run(None, |_| {}).await.unwrap().moved, 0);
    // `orders archive --older-than-days 0 --batch-size 2`
    let archiver = projections::Archiver::new(&store, TimeDelta::zero(), 2);
    let mut batches = Vec::new();
    let run = archiver
        .run(None, |batch| batches.push(batch.moved))
        .await
        .unwrap();
    assert_eq!((run.moved, run.batches), (5, 3));
    assert_eq!(batches, [2, 2, 1]);
    assert_eq!(
        run.progress.order_id, cancelled[4],
        "the mark: the newest moved"
    );

    let hot = app.orders_page("buyers", &app.buyer("b-1"), "").await;
    assert_eq!(page_ids(&hot), [open["order_id"].as_str().unwrap()]);
    let mut seen = Vec::new();
    let mut query = "archived=true&limit=2".to_owned();
    loop {
        let page = app.orders_page("buyers", &app.buyer("b-1"), &query).await;
        seen.extend(page_ids(&page));
        match page["next_cursor"].as_str() {
            Some(next) => query = format!("archived=true&limit=2&cursor={next}"),
            None => break,
        }
    }
    cancelled.reverse();
    assert_eq!(seen, cancelled, "every archived order once, newest first");
    let filtered = app
        .orders_page("sellers", &app.seller(), "archived=true&status=Paid")
        .await;
    assert!(page_ids(&filtered).is_empty());
}

/// The list routes document `archived`, `order_id` and `min_version`.
pub async fn the_list_parameters_are_in_the_openapi_document(app: TestApp) {
    let doc = app.openapi().await;
    for path in ["/v1/buyers/me/orders", "/v1/sellers/me/orders"] {
        let names: Vec<&str> = doc["paths"][path]["get"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        for name in [
            "status",
            "cursor",
            "limit",
            "archived",
            "order_id",
            "min_version",
        ] {
            assert!(names.contains(&name), "{path} lacks {name}: {names:?}");
        }
        assert!(doc["paths"][path]["get"]["responses"]["503"].is_object());
    }
}

/// Commands and queries answer errors with one problem type: the document has one problem
/// schema, and every error answer of every route refers to it.
pub async fn every_error_answer_is_the_one_problem_type(app: TestApp) {
    let doc = app.openapi().await;
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    let problems: Vec<&String> = schemas
        .keys()
        .filter(|name| name.contains("Problem"))
        .collect();
    assert_eq!(problems, ["Problem"]);
    for (path, operations) in doc["paths"].as_object().unwrap() {
        for (method, operation) in operations.as_object().unwrap() {
            for (status, answer) in operation["responses"].as_object().unwrap() {
                if status.starts_with('4') || status.starts_with('5') {
                    let Some(content) = answer["content"].as_object() else {
                        continue;
                    };
                    let schema = content
                        .values()
                        .map(|media| media["schema"]["$ref"].as_str().unwrap_or(""))
                        .collect::<Vec<_>>();
                    assert_eq!(
                        schema,
                        ["#/components/schemas/Problem"],
                        "{method} {path} {status}"
                    );
                }
            }
        }
    }
}
