//! Flash-sale campaigns over HTTP: the per-buyer limit under concurrent retries and after a
//! restart, the window's edges, no oversell, units coming back from cancelled orders and
//! from the campaign's end. Each scenario runs on both stores (`main.rs`).

use chrono::{Duration, SecondsFormat, Utc};
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{NewProduct, TestApp, eventually};

const TEA: NewProduct<'static> = NewProduct {
    sku: "tea-500g",
    price_cents: 1299,
    stock: 100,
};

fn in_minutes(minutes: i64) -> String {
    (Utc::now() + Duration::minutes(minutes)).to_rfc3339_opts(SecondsFormat::Secs, true)
}

impl TestApp {
    /// `POST /v1/campaigns` of tea as the seller, running from `starts` to `ends` minutes
    /// from now.
    async fn create_campaign(&self, stock: u32, limit: u32, starts: i64, ends: i64) -> Response {
        self.create_campaign_in((stock, limit), &in_minutes(starts), &in_minutes(ends))
            .await
    }

    /// `POST /v1/campaigns` of tea as the seller, running from `starts_at` to `ends_at`.
    async fn create_campaign_in(
        &self,
        (stock, limit): (u32, u32),
        starts_at: &str,
        ends_at: &str,
    ) -> Response {
        self.client
            .post(self.url("/v1/campaigns"))
            .bearer_auth(self.seller())
            .json(&json!({
                "sku": TEA.sku, "starts_at": starts_at, "ends_at": ends_at,
                "price_cents": 999, "stock": stock, "limit_per_buyer": limit,
            }))
            .send()
            .await
            .expect("the app answers")
    }

    /// `POST /v1/campaigns/{campaign}/end` as the seller.
    async fn end_campaign(&self, campaign: &str) -> Response {
        self.client
            .post(self.url(&format!("/v1/campaigns/{campaign}/end")))
            .bearer_auth(self.seller())
            .send()
            .await
            .expect("the app answers")
    }

    /// A running campaign of tea; answers its id.
    async fn running_campaign(&self, stock: u32, limit: u32) -> String {
        let created = self.create_campaign(stock, limit, -1, 60).await;
        assert_eq!(created.status(), StatusCode::CREATED);
        let body: Value = created.json().await.expect("a campaign");
        assert_eq!(body["status"], "Running");
        assert_eq!(body["remaining"], stock);
        body["campaign_id"].as_str().expect("an id").to_owned()
    }

    /// Places `order_id` of `quantity` teas in `campaign`.
    async fn place_in(
        &self,
        campaign: &str,
        buyer: &str,
        (order_id, token): (&str, &str),
        quantity: u32,
    ) -> Response {
        self.client
            .post(self.url("/v1/orders"))
            .bearer_auth(self.buyer(buyer))
            .json(&json!({
                "order_id": order_id, "checkout_token": token, "campaign_id": campaign,
                "items": [{"sku": TEA.sku, "quantity": quantity, "product_version": 1}],
            }))
            .send()
            .await
            .expect("the app answers")
    }

    /// Checks out for `buyer` and places one tea in `campaign`.
    async fn buy_in(&self, campaign: &str, buyer: &str) -> Response {
        let (order_id, token) = self.checkout(buyer).await;
        self.place_in(campaign, buyer, (&order_id, &token), 1).await
    }

    async fn campaign(&self, id: &str) -> Value {
        let response = self
            .client
            .get(self.url(&format!("/v1/campaigns/{id}")))
            .bearer_auth(self.buyer("anyone"))
            .send()
            .await
            .expect("the app answers");
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.expect("a campaign")
    }
}

/// The problem type of a refusal.
async fn problem_type(response: Response) -> (StatusCode, String) {
    let status = response.status();
    let body: Value = response.json().await.expect("a problem");
    (status, body["type"].as_str().unwrap_or_default().to_owned())
}

/// The limit beneath admission control: with the buyer's rate in a campaign unlimited
/// (`admission_campaign_buyer_per_sec = 0`), every retry reaches the placement, and the
/// buyer's record still lets no more than the limit through. With the default rate, most of
/// these would be answered 429 before any read (`admission.rs` tests that).
pub async fn a_buyer_never_gets_more_than_the_limit_under_concurrent_retries(app: TestApp) {
    let mut settings = app.settings.clone();
    settings.admission_campaign_buyer_per_sec = 0;
    let app = app.restart_with(settings).await;
    app.create_product(TEA).await;
    let campaign = app.running_campaign(10, 2).await;
    // the same order sent 50 times at once: one order, one unit
    let (order_id, token) = app.checkout("b-1").await;
    let retries = futures::future::join_all(
        (0..50).map(|_| app.place_in(&campaign, "b-1", (&order_id, &token), 1)),
    )
    .await;
    let mut created = 0;
    for response in retries {
        match response.status() {
            StatusCode::CREATED => created += 1,
            StatusCode::OK => {}
            other => panic!("a retry of a placed order answered {other}"),
        }
    }
    assert_eq!(created, 1);
    let order = app
        .get_order(&app.buyer("b-1"), &order_id)
        .await
        .json::<Value>()
        .await
        .expect("the order");
    assert_eq!(order["total_cents"], 999, "the campaign's price: {order}");
    // 50 other orders of the same buyer at once: one more unit, up to the limit of 2
    let others = futures::future::join_all((0..50).map(|_| app.buy_in(&campaign, "b-1"))).await;
    let mut placed = 0;
    for response in others {
        match problem_or_placed(response).await {
            None => placed += 1,
            Some((status, kind)) => {
                assert_eq!(status, StatusCode::CONFLICT);
                assert!(kind.ends_with("campaign-limit-reached"), "{kind}");
            }
        }
    }
    assert_eq!(placed, 1);
    assert_eq!(app.campaign(&campaign).await["remaining"], 8);
}

async fn problem_or_placed(response: Response) -> Option<(StatusCode, String)> {
    if response.status() == StatusCode::CREATED {
        return None;
    }
    Some(problem_type(response).await)
}

pub async fn a_campaign_refuses_orders_before_its_start_and_after_its_end(app: TestApp) {
    app.create_product(TEA).await;
    let later = app.create_campaign(5, 1, 60, 120).await;
    assert_eq!(later.status(), StatusCode::CREATED);
    let later: Value = later.json().await.expect("a campaign");
    assert_eq!(later["status"], "Scheduled");
    let later = later["campaign_id"].as_str().expect("an id");
    let (status, kind) = problem_type(app.buy_in(later, "b-1").await).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(kind.ends_with("/campaign-not-started"), "{kind}");

    let past = app.create_campaign(5, 1, -120, -60).await;
    let past: Value = past.json().await.expect("a campaign");
    assert_eq!(past["status"], "Ended");
    let past = past["campaign_id"].as_str().expect("an id");
    let (status, kind) = problem_type(app.buy_in(past, "b-1").await).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(kind.ends_with("/campaign-ended"), "{kind}");

    let ended = app.running_campaign(5, 1).await;
    let end = app.end_campaign(&ended).await;
    assert_eq!(end.status(), StatusCode::OK);
    let (status, kind) = problem_type(app.buy_in(&ended, "b-1").await).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(kind.ends_with("/campaign-ended"), "{kind}");

    let (status, kind) = problem_type(app.buy_in("c-none", "b-1").await).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(kind.ends_with("/campaign-not-found"), "{kind}");

    // the seller's list holds the three campaigns
    let listed: Value = app
        .client
        .get(app.url("/v1/campaigns"))
        .bearer_auth(app.seller())
        .send()
        .await
        .expect("the app answers")
        .json()
        .await
        .expect("a list");
    assert_eq!(listed.as_array().map(Vec::len), Some(3), "{listed}");
}

pub async fn many_buyers_never_oversell_a_campaign(app: TestApp) {
    app.create_product(TEA).await;
    let campaign = app.running_campaign(20, 1).await;
    let buyers: Vec<String> = (0..60).map(|n| format!("b-{n}")).collect();
    let answers =
        futures::future::join_all(buyers.iter().map(|buyer| app.buy_in(&campaign, buyer))).await;
    let mut placed = 0;
    for response in answers {
        match problem_or_placed(response).await {
            None => placed += 1,
            Some((status, kind)) => {
                assert_eq!(status, StatusCode::CONFLICT);
                assert!(kind.ends_with("/campaign-sold-out"), "{kind}");
            }
        }
    }
    assert_eq!(placed, 20);
    assert_eq!(app.campaign(&campaign).await["remaining"], 0);
    // the SKU gave the campaign its 20 units and no more
    let stock = app
        .stock_when(TEA.sku, |stock| stock["available"] == 80)
        .await;
    assert_eq!(stock["reserved"], 0);
}

/// A buyer arriving after the campaign sold out is refused before anything is taken for
/// them: no claim on their record, no rejection of their order id, however often the bot
/// replays it, nor for a crowd arriving at once; the order id stays usable.
pub async fn a_sold_out_campaign_refuses_a_buyer_without_writing(app: TestApp) {
    app.create_product(TEA).await;
    let campaign = app.running_campaign(1, 1).await;
    assert_eq!(
        app.buy_in(&campaign, "b-1").await.status(),
        StatusCode::CREATED
    );
    let (order_id, token) = app.checkout("b-2").await;
    for _ in 0..3 {
        let refused = app.place_in(&campaign, "b-2", (&order_id, &token), 1).await;
        let (status, kind) = problem_type(refused).await;
        assert_eq!(status, StatusCode::CONFLICT);
        assert!(kind.ends_with("/campaign-sold-out"), "{kind}");
    }
    let written_for_b2 = format!(
        "SELECT count(*) FROM events WHERE aggregate_id = '{order_id}' \
         OR aggregate_id = '{campaign}/b-2'"
    );
    assert_eq!(app.scalar(&written_for_b2).await, 0);
    // a crowd at once: each looks at the buckets in turn, none is sent the long way round
    let buyers: Vec<String> = (0..30).map(|n| format!("late-{n}")).collect();
    let crowd =
        futures::future::join_all(buyers.iter().map(|buyer| app.buy_in(&campaign, buyer))).await;
    for refused in crowd {
        let (status, kind) = problem_type(refused).await;
        assert_eq!(status, StatusCode::CONFLICT);
        assert!(kind.ends_with("/campaign-sold-out"), "{kind}");
    }
    let bookkeeping = "SELECT count(*) FROM events \
        WHERE event_type IN ('LimitClaimed', 'PlacementRejected', 'LimitReturned')";
    assert_eq!(app.scalar(bookkeeping).await, 1, "only b-1's claim");
}

pub async fn a_cancelled_campaign_order_gives_its_unit_back_to_the_running_campaign(app: TestApp) {
    app.create_product(TEA).await;
    let campaign = app.running_campaign(1, 1).await;
    let first = app.buy_in(&campaign, "b-1").await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let first: Value = first.json().await.expect("an order");
    let (status, kind) = problem_type(app.buy_in(&campaign, "b-2").await).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(kind.ends_with("/campaign-sold-out"), "{kind}");

    let id = first["order_id"].as_str().expect("an id");
    let cancelled = app.cancel_order("b-1", id, 1).await;
    assert_eq!(cancelled.status(), StatusCode::OK);
    eventually(|| async { (app.campaign(&campaign).await["remaining"] == 1).then_some(()) }).await;
    let second = app.buy_in(&campaign, "b-2").await;
    assert_eq!(second.status(), StatusCode::CREATED);
    // b-1's claim comes back with the unit (the same reaction, a step later): sold out now,
    // not over the limit
    eventually(|| async {
        let (_, kind) = problem_type(app.buy_in(&campaign, "b-1").await).await;
        kind.ends_with("/campaign-sold-out").then_some(())
    })
    .await;
}

pub async fn ending_a_campaign_returns_the_rest_to_the_sku(app: TestApp) {
    app.create_product(TEA).await;
    let campaign = app.running_campaign(30, 1).await;
    for buyer in ["b-1", "b-2", "b-3"] {
        assert_eq!(
            app.buy_in(&campaign, buyer).await.status(),
            StatusCode::CREATED
        );
    }
    app.stock_when(TEA.sku, |stock| stock["available"] == 70)
        .await;
    let ended = app.end_campaign(&campaign).await;
    assert_eq!(ended.status(), StatusCode::OK);
    let ended: Value = ended.json().await.expect("a campaign");
    assert_eq!(ended["status"], "Ended");
    assert_eq!(ended["remaining"], 0);
    // the 27 unsold units are the SKU's again; the 3 held stay with their orders
    app.stock_when(TEA.sku, |stock| stock["available"] == 97)
        .await;
}

pub async fn the_limit_holds_after_a_restart(app: TestApp) {
    app.create_product(TEA).await;
    let campaign = app.running_campaign(10, 1).await;
    assert_eq!(
        app.buy_in(&campaign, "b-1").await.status(),
        StatusCode::CREATED
    );
    let settings = app.settings.clone();
    let app = app.restart_with(settings).await;
    let (status, kind) = problem_type(app.buy_in(&campaign, "b-1").await).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(kind.ends_with("/campaign-limit-reached"), "{kind}");
    assert_eq!(app.campaign(&campaign).await["remaining"], 9);
}

/// Seconds the natural-end scenario's campaign runs.
const SHORT_WINDOW_SECS: i64 = 2;

/// A campaign ends by itself: once its end time has passed, what its buckets hold is the
/// SKU's again, with a restart in between; the seller ending it afterwards changes nothing,
/// and an order of it cancelled after the end gives its unit to the SKU.
pub async fn a_campaign_ends_by_itself_and_its_rest_returns_to_the_sku_once(app: TestApp) {
    app.create_product(TEA).await;
    let ends_at = Utc::now() + Duration::seconds(SHORT_WINDOW_SECS);
    let created = app
        .create_campaign_in(
            (10, 1),
            &in_minutes(-1),
            &ends_at.to_rfc3339_opts(SecondsFormat::Millis, true),
        )
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let created: Value = created.json().await.expect("a campaign");
    let campaign = created["campaign_id"].as_str().expect("an id").to_owned();
    let order = app.buy_in(&campaign, "b-1").await;
    assert_eq!(order.status(), StatusCode::CREATED);
    let order: Value = order.json().await.expect("an order");
    app.stock_when(TEA.sku, |stock| stock["available"] == 90)
        .await;
    // a restart before the end time: the end is found again, nothing waits for a request
    let settings = app.settings.clone();
    let app = app.restart_with(settings).await;
    if let Ok(left) = (ends_at - Utc::now()).to_std() {
        tokio::time::sleep(left).await;
    }
    // the 9 unsold units are the SKU's again; the one held stays with its order
    app.stock_when(TEA.sku, |stock| stock["available"] == 99)
        .await;
    let shown = app.campaign(&campaign).await;
    assert_eq!(shown["status"], "Ended");
    assert_eq!(shown["remaining"], 0);
    // the timer closes the buckets in parallel: an emptied bucket's close can come after
    // the stock shows 99, so wait for the timer to mark the whole end carried out
    let carried_out = format!(
        "SELECT count(*) FROM campaign_ends WHERE campaign_id = '{campaign}' AND ended_at_ms IS NOT NULL"
    );
    eventually(|| async { (app.scalar(&carried_out).await == 1).then_some(()) }).await;

    // the seller ending it now writes nothing and returns nothing more
    let events = "SELECT count(*) FROM events";
    let before = app.scalar(events).await;
    let ended = app.end_campaign(&campaign).await;
    assert_eq!(ended.status(), StatusCode::OK);
    assert_eq!(app.scalar(events).await, before);
    assert_eq!(app.stock(TEA.sku).await["available"], 99);

    // the order cancelled after the end: its unit goes to the SKU, not the closed campaign
    let id = order["order_id"].as_str().expect("an id");
    assert_eq!(
        app.cancel_order("b-1", id, 1).await.status(),
        StatusCode::OK
    );
    app.stock_when(TEA.sku, |stock| stock["available"] == 100)
        .await;
    assert_eq!(app.campaign(&campaign).await["remaining"], 0);
}

/// Replays of one buyer's campaign placement sent at once, as a bot sends them.
const REPLAYS: usize = 40;
/// The default burst per buyer and campaign (`admission_campaign_buyer_burst`).
const CAMPAIGN_BUYER_BURST: usize = 10;

/// Admission for one buyer and campaign with the default settings: a bot replaying a buyer's
/// placement many times at once is answered 429 `too-many-requests` (problem+json, with
/// `Retry-After`) beyond its burst, and the refused replays write nothing (the log's head
/// stays where it was); a second buyer of the campaign is placed meanwhile.
pub async fn a_bot_replaying_a_campaign_placement_is_refused_429_and_writes_nothing(app: TestApp) {
    app.create_product(TEA).await;
    let campaign = app.running_campaign(10, 1).await;
    let (order_id, token) = app.checkout("bot").await;
    let first = app.place_in(&campaign, "bot", (&order_id, &token), 1).await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let head = "SELECT count(*) FROM events";
    let before = app.scalar(head).await;

    let replays = futures::future::join_all(
        (0..REPLAYS).map(|_| app.place_in(&campaign, "bot", (&order_id, &token), 1)),
    )
    .await;
    let mut refused = 0;
    for response in replays {
        match response.status() {
            // a repeat admitted within the burst: answered with the order, nothing written
            StatusCode::OK => {}
            StatusCode::TOO_MANY_REQUESTS => {
                let header = |name: &str| {
                    response
                        .headers()
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned)
                };
                let retry_after = header("Retry-After").and_then(|v| v.parse::<u64>().ok());
                assert!(retry_after.is_some_and(|secs| secs >= 1), "{retry_after:?}");
                let content_type = header("Content-Type");
                assert_eq!(content_type.as_deref(), Some("application/problem+json"));
                let (_, kind) = problem_type(response).await;
                assert_eq!(kind, "/problems/too-many-requests");
                refused += 1;
            }
            other => panic!("a replay answered {other}"),
        }
    }
    // the burst and what refilled while the replays ran went through, the rest did not
    assert!(
        refused >= REPLAYS - 2 * CAMPAIGN_BUYER_BURST,
        "{refused} of {REPLAYS} refused"
    );
    assert_eq!(app.scalar(head).await, before, "a replay wrote to the log");

    // another buyer of the same campaign is not held back by the bot
    assert_eq!(
        app.buy_in(&campaign, "b-2").await.status(),
        StatusCode::CREATED
    );
    assert!(app.scalar(head).await > before);
}
