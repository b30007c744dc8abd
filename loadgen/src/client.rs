//! Typed calls to the API, timed. A request counts only when it succeeds.

use std::time::{Duration, Instant};

use command_api::auth::{Role, TokenKeys};
use command_api::payments::signature::{CallbackKey, SIGNATURE_HEADER};
use reqwest::{Method, RequestBuilder, StatusCode};
use serde::Deserialize;
use serde::de::{DeserializeOwned, IgnoredAny};
use serde_json::{Value, json};

use crate::stats::{Samples, route};

/// Validity of the tokens the generator signs for itself.
const TOKEN_TTL_SECS: i64 = 24 * 3_600;

/// How a request ended when it did not succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failed {
    /// HTTP status, or 0 when the request did not get an answer.
    pub status: u16,
}

/// An API client with tokens signed by the server's secret, and payment notifications signed
/// with the callback secret it shares with the payment provider.
#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    base: String,
    keys: TokenKeys,
    callback_key: CallbackKey,
}

impl Api {
    /// A client for the server at `base` (e.g. `http://127.0.0.1:8080`) whose JWT secret is
    /// `secret` and whose payment callback secret is `callback_secret`.
    pub fn new(base: &str, secret: &str, callback_secret: &str) -> Self {
        Self {
            http: reqwest::Client::builder()
                .pool_max_idle_per_host(1_024)
                .build()
                .unwrap_or_default(),
            base: base.trim_end_matches('/').to_owned(),
            keys: TokenKeys::new(secret),
            callback_key: CallbackKey::new(callback_secret),
        }
    }

    /// The server's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// A bearer token for `subject` in `role`.
    pub fn token(&self, role: Role, subject: &str) -> String {
        let now = chrono::Utc::now().timestamp();
        self.keys
            .issue(subject, role, now, TOKEN_TTL_SECS)
            .unwrap_or_default()
    }

    /// Sends one request; on success records its latency (when `samples` is given) and
    /// answers with what the caller reads of the JSON body (`IgnoredAny` for nothing: the
    /// generator shares the cores with the server, and a `Value` of every order document it
    /// gets back was a seventh of its CPU). A body that is empty or not a `T` reads as
    /// `T::default()`; the body of a failed request is not read.
    pub async fn call<T: DeserializeOwned + Default>(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<&Value>,
        samples: Option<&mut Samples>,
    ) -> Result<T, Failed> {
        let route = samples.is_some().then(|| route(method.as_str(), path));
        Self::send(self.request(method, path, token, body), route, samples).await
    }

    /// A request to `path` with the bearer `token` and `body` as JSON, if any.
    fn request(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<&Value>,
    ) -> RequestBuilder {
        let request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token);
        match body {
            Some(body) => request.json(body),
            None => request,
        }
    }

    /// Posts a payment notification as the provider does: `body` signed with the callback
    /// secret, no bearer token. Timed like [`Api::call`].
    pub async fn notify(&self, body: &Value, samples: Option<&mut Samples>) -> Result<(), Failed> {
        const PATH: &str = "/v1/payments/notify";
        let route = samples.is_some().then(|| route("POST", PATH));
        let bytes = serde_json::to_vec(body).map_err(|_| Failed { status: 0 })?;
        let signature = self
            .callback_key
            .sign(chrono::Utc::now().timestamp(), &bytes);
        let request = self
            .http
            .post(format!("{}{PATH}", self.base))
            .header(SIGNATURE_HEADER, signature)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(bytes);
        Self::send::<IgnoredAny>(request, route, samples)
            .await
            .map(|_| ())
    }

    async fn send<T: DeserializeOwned + Default>(
        request: RequestBuilder,
        route: Option<String>,
        samples: Option<&mut Samples>,
    ) -> Result<T, Failed> {
        let started = Instant::now();
        let response = request.send().await.map_err(|_| Failed { status: 0 })?;
        let status = response.status();
        if !status.is_success() {
            return Err(Failed {
                status: status.as_u16(),
            });
        }
        let body = response.bytes().await.map_err(|_| Failed {
            status: status.as_u16(),
        })?;
        if let (Some(samples), Some(route)) = (samples, route) {
            samples.route_request(route, started.elapsed());
        }
        Ok(serde_json::from_slice(&body).unwrap_or_default())
    }

    /// Sends one request and answers with whatever came back, success or not, and how long
    /// it took: for scenarios whose refusals are part of what they measure. `Failed` only when
    /// no answer came.
    pub async fn exchange(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<&Value>,
    ) -> Result<Answer, Failed> {
        let request = self.request(method, path, token, body);
        let started = Instant::now();
        let response = request.send().await.map_err(|_| Failed { status: 0 })?;
        let status = response.status().as_u16();
        let retry_after_secs = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        let body = response.bytes().await.map_err(|_| Failed { status })?;
        Ok(Answer {
            status,
            body,
            took: started.elapsed(),
            retry_after_secs,
        })
    }

    /// Creates a product with `stock` units (an existing identical product is fine).
    pub async fn create_product(
        &self,
        seller: &str,
        sku: &str,
        price_cents: i64,
        stock: u32,
    ) -> Result<(), Failed> {
        let body = json!({
            "sku": sku, "title": format!("Bench {sku}"), "price_cents": price_cents,
            "initial_stock": stock,
        });
        let token = self.token(Role::Seller, seller);
        self.call::<IgnoredAny>(Method::POST, "/v1/products", &token, Some(&body), None)
            .await
            .map(|_| ())
    }

    /// The stock of a SKU as `(available, reserved, sold)`.
    pub async fn stock(&self, seller: &str, sku: &str) -> Result<(u64, u64, u64), Failed> {
        let token = self.token(Role::Seller, seller);
        let stock: Stock = self
            .call(
                Method::GET,
                &format!("/v1/skus/{sku}/stock"),
                &token,
                None,
                None,
            )
            .await?;
        Ok((stock.available, stock.reserved, stock.sold))
    }
}

/// What the generator reads of a SKU's stock.
#[derive(Debug, Default, Deserialize)]
struct Stock {
    available: u64,
    reserved: u64,
    sold: u64,
}

/// An answer of [`Api::exchange`].
#[derive(Debug, Clone)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// The body as it came.
    pub body: bytes::Bytes,
    /// From sending the request to the end of its body.
    pub took: Duration,
    /// The `Retry-After` header in seconds, when there is one.
    pub retry_after_secs: Option<u64>,
}

impl Answer {
    /// The body read as `T` (`T::default()` when it is not one).
    pub fn json<T: DeserializeOwned + Default>(&self) -> T {
        serde_json::from_slice(&self.body).unwrap_or_default()
    }

    /// The problem `type` of an error answer (empty when the body is not a problem).
    pub fn problem_type(&self) -> String {
        #[derive(Default, Deserialize)]
        struct Problem {
            #[serde(rename = "type")]
            problem_type: String,
        }
        self.json::<Problem>().problem_type
    }
}

/// Whether a failure is the expected refusal of a scenario (e.g. out of stock).
pub fn is_conflict(failed: Failed) -> bool {
    failed.status == StatusCode::CONFLICT.as_u16()
}

/// What a client reads of a checkout (`POST /v1/checkout`).
#[derive(Debug, Default, Deserialize)]
pub struct Checkout {
    /// The order id to place.
    pub order_id: String,
    /// The token that proves the checkout.
    pub checkout_token: String,
}

impl Checkout {
    /// The body of `POST /v1/orders` placing this checkout's order with `items` (SKU and
    /// quantity, at product version 1).
    pub fn placement<S: AsRef<str>>(&self, items: &[(S, u32)]) -> Value {
        let lines: Vec<Value> = items
            .iter()
            .map(|(sku, qty)| json!({ "sku": sku.as_ref(), "quantity": qty, "product_version": 1 }))
            .collect();
        json!({
            "order_id": self.order_id,
            "checkout_token": self.checkout_token,
            "items": lines,
        })
    }
}

/// What a client reads of a placed order (`POST /v1/orders`).
#[derive(Debug, Default, Deserialize)]
pub struct Placed {
    /// Its id.
    pub order_id: String,
    /// What the buyer owes.
    pub total_cents: i64,
}
