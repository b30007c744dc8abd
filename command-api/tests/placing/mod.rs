//! What the binary's tests do to a running server to give it work: a product with stock for
//! every order, and orders placed one after another as a buyer would.

use serde_json::{Value, json};

/// Creates the SKU `tea` (1,000,000 units, 1.00) as `seller_token`'s seller.
pub(crate) async fn create_tea(client: &reqwest::Client, base: &str, seller_token: &str) {
    let created = client
        .post(format!("{base}/v1/products"))
        .header("Authorization", format!("Bearer {seller_token}"))
        .json(&json!({
            "sku": "tea", "title": "Tea", "price_cents": 100, "initial_stock": 1_000_000,
        }))
        .send()
        .await
        .expect("the server answers");
    assert!(created.status().is_success(), "{}", created.status());
}

/// Checks out and places a one-unit order of tea as the buyer of `buyer_token`: its id and
/// whether the placement was acknowledged (2xx); `None` once the server stops answering.
pub(crate) async fn place_tea(
    client: &reqwest::Client,
    base: &str,
    buyer_token: &str,
) -> Option<(Value, bool)> {
    let auth = format!("Bearer {buyer_token}");
    let checkout: Value = client
        .post(format!("{base}/v1/checkout"))
        .header("Authorization", &auth)
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    let order_id = checkout["order_id"].clone();
    let body = json!({
        "order_id": order_id,
        "checkout_token": checkout["checkout_token"],
        "items": [{ "sku": "tea", "quantity": 1, "product_version": 1 }],
    });
    let res = client
        .post(format!("{base}/v1/orders"))
        .header("Authorization", &auth)
        .json(&body)
        .send()
        .await
        .ok()?;
    Some((order_id, res.status().is_success()))
}
