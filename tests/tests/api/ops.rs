//! `GET /v1/ops/status`: every follower of the log with its position, lag, holder and dead
//! letters, for the ops role only.

use command_api::auth::Role;
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{NewProduct, TestApp, eventually};

/// Every follower of the log a node runs with all its roles.
const FOLLOWERS: [&str; 8] = [
    "projection:orders",
    "projection:stock",
    "reaction:campaign-ends",
    "reaction:order-reactions",
    "reaction:payment-deadlines",
    "reaction:payment-refunds",
    "reaction:payment-trades",
    "reaction:placement-reactions",
];

pub async fn the_status_shows_each_follower_caught_up_and_held(app: TestApp) {
    app.create_product(NewProduct {
        sku: "tea",
        price_cents: 350,
        stock: 10,
    })
    .await;
    app.order("b-1", &[("tea", 1, 1)]).await;
    let ops = app.token(Role::Ops, "ops-1");
    let refused = app
        .client
        .get(app.url("/v1/ops/status"))
        .bearer_auth(app.buyer("b-1"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let status: Value = eventually(|| async {
        let status: Value = app
            .client
            .get(app.url("/v1/ops/status"))
            .bearer_auth(&ops)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let followers = status["followers"].as_array()?;
        // a follower is listed from its first checkpoint: one that lingers comes later
        let listed = FOLLOWERS
            .iter()
            .all(|name| followers.iter().any(|f| f["name"] == *name));
        let settled = listed
            && followers.iter().all(|f| {
                f["lag_events"] == 0
                    && f["holder"].is_string()
                    && f["position"] == status["head_position"]
            });
        settled.then_some(status)
    })
    .await;
    assert_eq!(
        status["followers"].as_array().map(Vec::len),
        Some(FOLLOWERS.len()),
        "{status}"
    );
    let leases: Vec<&str> = status["leases"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|l| l["name"].as_str())
        .collect();
    assert!(leases.contains(&"timer"), "{leases:?}");
    assert!(status["head_position"].as_i64().unwrap() > 0, "{status}");
}
