//! The read side over HTTP: the order views and the stock view, their authorization,
//! pagination, ETags and read-your-writes.

use std::collections::HashSet;

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{NewProduct, TestApp, etag, etag_version, eventually, page_ids};

const TEA: NewProduct<'static> = NewProduct {
    sku: "tea-500g",
    price_cents: 1299,
    stock: 1_000,
};

/// A buyer sees their orders in the buyer list and the seller in the seller list, newest
/// first; nobody sees another's; `min_version` reads one's own write.
pub async fn buyers_and_sellers_see_their_own_orders(app: TestApp) {
    app.create_product(TEA).await;
    let first = app.order("b-1", &[("tea-500g", 1, 1)]).await;
    let second = app.order("b-1", &[("tea-500g", 2, 1)]).await;
    let other = app.order("b-2", &[("tea-500g", 1, 1)]).await;
    let id = |o: &Value| o["order_id"].as_str().unwrap().to_owned();

    // read-your-writes: the command answered version 1; the view waits for it
    let detail = app.get_order_at(&app.buyer("b-1"), &id(&second), 1).await;
    assert_eq!(detail.status(), StatusCode::OK);
    assert_eq!(etag(&detail), "\"1\"");
    let detail: Value = detail.json().await.unwrap();
    assert_eq!(detail["total_cents"], 2 * 1299);
    assert_eq!(detail["status"], "PendingPayment");

    let mine = eventually(|| async {
        let page = app.orders_page("buyers", &app.buyer("b-1"), "").await;
        (page_ids(&page).len() == 2).then_some(page)
    })
    .await;
    assert_eq!(page_ids(&mine), [id(&second), id(&first)], "newest first");
    let theirs = eventually(|| async {
        let page = app.orders_page("sellers", &app.seller(), "").await;
        (page_ids(&page).len() == 3).then_some(page)
    })
    .await;
    assert!(page_ids(&theirs).contains(&id(&other)));
    let stranger = app
        .orders_page(
            "sellers",
            &app.token(command_api::auth::Role::Seller, "shop-2"),
            "",
        )
        .await;
    assert!(page_ids(&stranger).is_empty(), "another seller sees none");

    // the wrong role for a list, another buyer's order, a bad filter
    let wrong_role = app.my_orders("buyers", &app.seller(), "").await;
    assert_eq!(wrong_role.status(), StatusCode::FORBIDDEN);
    let not_mine = app.get_order(&app.buyer("b-2"), &id(&first)).await;
    assert_eq!(not_mine.status(), StatusCode::NOT_FOUND);
    let bad = app
        .my_orders("buyers", &app.buyer("b-1"), "status=Lost")
        .await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let unauthenticated = app
        .client
        .get(app.url("/v1/buyers/me/orders"))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthenticated.status(), StatusCode::UNAUTHORIZED);

    // a status filter, after a payment the view catches up with
    let paid = app.notify_payment(&id(&first), "T-1", 1299).await;
    assert_eq!(paid.status(), StatusCode::OK);
    let paid_view = app.get_order_at(&app.buyer("b-1"), &id(&first), 2).await;
    assert_eq!(paid_view.status(), StatusCode::OK);
    let only_paid = app
        .orders_page("buyers", &app.buyer("b-1"), "status=Paid")
        .await;
    assert_eq!(page_ids(&only_paid), [id(&first)]);

    // ETags: an unchanged order answers 304
    let again = app
        .client
        .get(app.url(&format!("/v1/orders/{}", id(&first))))
        .bearer_auth(app.buyer("b-1"))
        .header("If-None-Match", "\"2\"")
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);

    // a version the view will not reach in time: 503 with Retry-After
    let future = app.get_order_at(&app.buyer("b-1"), &id(&first), 99).await;
    assert_eq!(future.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(future.headers().contains_key("retry-after"));
}

/// A list read with `order_id` and `min_version` (the version a command answered) waits until
/// it reflects that write, on both lists; a version the read side does not reach in time is
/// 503 with `Retry-After`; the two parameters go together.
pub async fn a_list_with_min_version_reflects_the_callers_write(app: TestApp) {
    app.create_product(TEA).await;
    let order = app.order("b-1", &[("tea-500g", 1, 1)]).await;
    let id = order["order_id"].as_str().unwrap().to_owned();

    // no polling: the server waits for the write
    let query = format!("order_id={id}&min_version=1");
    let mine = app.orders_page("buyers", &app.buyer("b-1"), &query).await;
    assert_eq!(page_ids(&mine), [id.as_str()]);

    let paid = app.notify_payment(&id, "T-list", 1299).await;
    assert_eq!(paid.status(), StatusCode::OK);
    let version = etag_version(&paid);
    let query = format!("status=Paid&order_id={id}&min_version={version}");
    let only_paid = app.orders_page("buyers", &app.buyer("b-1"), &query).await;
    assert_eq!(page_ids(&only_paid), [id.as_str()]);
    let theirs = app
        .client
        .get(app.url(&format!("/v1/sellers/me/orders?order_id={id}")))
        .bearer_auth(app.seller())
        .header("X-Min-Version", version.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(theirs.status(), StatusCode::OK);
    let theirs: Value = theirs.json().await.unwrap();
    assert_eq!(theirs["orders"][0]["status"], "Paid");

    let future = app
        .my_orders(
            "buyers",
            &app.buyer("b-1"),
            &format!("order_id={id}&min_version=99"),
        )
        .await;
    assert_eq!(future.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(future.headers().contains_key("retry-after"));
    for (query, field) in [
        ("min_version=1".to_owned(), "order_id"),
        (format!("order_id={id}"), "min_version"),
        ("order_id=abc&min_version=1".to_owned(), "order_id"),
    ] {
        let bad = app.my_orders("buyers", &app.buyer("b-1"), &query).await;
        assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY, "{query}");
        let problem: Value = bad.json().await.unwrap();
        assert_eq!(problem["field"], field, "{query}");
    }
}

/// Paging through a buyer's orders while new ones are placed returns every older order
/// exactly once: new orders go to the front, never shift later pages.
pub async fn the_buyer_list_paginates_stably_while_orders_arrive(app: TestApp) {
    app.create_product(TEA).await;
    let mut placed = Vec::new();
    for _ in 0..7 {
        let order = app.order("b-1", &[("tea-500g", 1, 1)]).await;
        placed.push(order["order_id"].as_str().unwrap().to_owned());
    }
    eventually(|| async {
        let page = app
            .orders_page("buyers", &app.buyer("b-1"), "limit=100")
            .await;
        (page_ids(&page).len() == 7).then_some(())
    })
    .await;
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let query = match &cursor {
            Some(c) => format!("limit=3&cursor={c}"),
            None => "limit=3".to_owned(),
        };
        let page = app.orders_page("buyers", &app.buyer("b-1"), &query).await;
        seen.extend(page_ids(&page));
        // a new order arrives between pages
        app.order("b-1", &[("tea-500g", 1, 1)]).await;
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "no order twice: {seen:?}");
    placed.reverse();
    assert_eq!(seen, placed, "every older order once, newest first");
}

/// The stock view follows reservations and sales.
pub async fn the_stock_view_follows_the_sku(app: TestApp) {
    app.create_product(TEA).await;
    let order = app.order("b-1", &[("tea-500g", 3, 1)]).await;
    let stock = app.stock_when("tea-500g", |s| s["reserved"] == 3).await;
    assert_eq!(stock["available"], 997);
    let id = order["order_id"].as_str().unwrap();
    app.notify_payment(id, "T-9", 3 * 1299).await;
    let stock = app.stock_when("tea-500g", |s| s["sold"] == 3).await;
    assert_eq!(
        (stock["available"].as_u64(), stock["reserved"].as_u64()),
        (Some(997), Some(0))
    );
    let missing = app
        .client
        .get(app.url("/v1/skus/nope/stock"))
        .bearer_auth(app.seller())
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}

/// The runners' lag is exported.
pub async fn projection_lag_is_exported(app: TestApp) {
    app.create_product(TEA).await;
    app.order("b-1", &[("tea-500g", 1, 1)]).await;
    let metrics = app
        .metrics_with(r#"projection_events_applied_total{projection="orders",shard=""#)
        .await;
    for name in ["projection_lag_events", "projection_lag_seconds"] {
        assert!(
            metrics.contains(&format!(r#"{name}{{projection="stock",shard="default"}}"#)),
            "{name}"
        );
    }
}

/// Another caller's order answers exactly as an id that was never issued: 404 alike without
/// `min_version` or with 0 (at once), and with a later one the same wait and the same 503,
/// whatever its version.
pub async fn another_callers_order_answers_as_a_never_issued_id(app: TestApp) {
    app.create_product(TEA).await;
    let placed = app.order("b-1", &[("tea-500g", 1, 1)]).await;
    let theirs = placed["order_id"].as_str().unwrap().to_owned();
    app.read_side_settled().await;
    let never = "4242424242";
    let stranger = app.buyer("b-2");
    let answer = |id: &str, min_version: Option<u64>| {
        let url = match min_version {
            Some(v) => app.url(&format!("/v1/orders/{id}?min_version={v}")),
            None => app.url(&format!("/v1/orders/{id}")),
        };
        let request = app.client.get(url).bearer_auth(&stranger);
        let id = id.to_owned();
        async move {
            let started = std::time::Instant::now();
            let response = request.send().await.unwrap();
            let status = response.status();
            let retry_after = response.headers().get("Retry-After").cloned();
            let body = response.text().await.unwrap().replace(&id, "{id}");
            (status, retry_after, body, started.elapsed())
        }
    };
    let (theirs_now, never_now) = futures::join!(answer(&theirs, None), answer(never, None));
    assert_eq!(theirs_now.0, StatusCode::NOT_FOUND);
    assert_eq!(
        (&theirs_now.0, &theirs_now.1, &theirs_now.2),
        (&never_now.0, &never_now.1, &never_now.2)
    );
    // version 0 is before any write, which every id has reached: nothing to wait for
    let (theirs_zero, never_zero) =
        futures::join!(answer(&theirs, Some(0)), answer(never, Some(0)));
    assert_eq!(theirs_zero.0, StatusCode::NOT_FOUND, "{}", theirs_zero.2);
    assert_eq!(
        (&theirs_zero.0, &theirs_zero.1, &theirs_zero.2),
        (&never_zero.0, &never_zero.1, &never_zero.2)
    );
    assert!(
        theirs_zero.3 < std::time::Duration::from_millis(1_000),
        "{:?}",
        theirs_zero.3
    );
    for min_version in [1, 9] {
        let (theirs_at, never_at) = futures::join!(
            answer(&theirs, Some(min_version)),
            answer(never, Some(min_version))
        );
        assert_eq!(
            theirs_at.0,
            StatusCode::SERVICE_UNAVAILABLE,
            "{}",
            theirs_at.2
        );
        assert_eq!(
            (&theirs_at.0, &theirs_at.1, &theirs_at.2),
            (&never_at.0, &never_at.1, &never_at.2)
        );
        // both waited the whole bound: neither answered early
        assert!(
            theirs_at.3 >= std::time::Duration::from_millis(2_900),
            "{:?}",
            theirs_at.3
        );
    }
}
