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
    // each log's report: the default shard's, and with shards every other one's; a shard
    // whose log is empty has nothing to follow
    let reports = |status: &Value| -> Vec<Value> {
        let mut reports = vec![status.clone()];
        if let Some(shards) = status["shards"].as_array() {
            reports.extend(shards.iter().cloned());
        }
        reports
            .into_iter()
            .filter(|r| r["head_position"].as_i64().is_some_and(|head| head > 0))
            .collect()
    };
    // with shards, each log's `sellers` follower copies to the sellers' shards (ADR 45)
    let mut expected = FOLLOWERS.to_vec();
    if !app.settings.shards.is_empty() {
        expected.push("projection:sellers");
    }
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
        let reports = reports(&status);
        let settled = !reports.is_empty()
            && reports.iter().all(|report| {
                let Some(followers) = report["followers"].as_array() else {
                    return false;
                };
                // a follower is listed from its first checkpoint: one that lingers comes later
                let listed = expected
                    .iter()
                    .all(|name| followers.iter().any(|f| f["name"] == *name));
                listed
                    && followers.iter().all(|f| {
                        f["lag_events"] == 0
                            && f["holder"].is_string()
                            && f["position"] == report["head_position"]
                    })
            });
        settled.then_some(status)
    })
    .await;
    for report in reports(&status) {
        assert_eq!(
            report["followers"].as_array().map(Vec::len),
            Some(expected.len()),
            "{report}"
        );
        let leases: Vec<&str> = report["leases"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|l| l["name"].as_str())
            .collect();
        assert!(leases.contains(&"timer"), "{leases:?}");
    }
}
