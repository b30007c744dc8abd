//! The flash-sale scenario: one campaign SKU, a limit of one per buyer, about ten buyers for
//! each unit of stock, and clients that replay their requests as bots do.
//!
//! The run sets up a SKU and a campaign through the API (as the seller), then N clients take
//! the buyers in turn: each buyer checks out, places an order naming the campaign, and sends
//! the same placement again `replays` times; every `second_order_every`-th buyer then checks
//! out again and tries a second order, which the limit must refuse. It is a fixed amount of
//! work, not a timed one: reservations per second are the reservations (distinct order ids
//! answered 201) over the time from the start to the last of them, when the stock ran out.
//! The verdict is counted from those answers (oversold: reservations beyond the stock; over the
//! limit: buyers with more orders than the limit) and cross-checked against the campaign's
//! `remaining` when the server answers `GET /v1/campaigns/{id}`.
//!
//! The same run drives the order platform and its peers (`bench/redis-peer`,
//! `bench/crud-peer`), which serve the same requests. A server without campaigns (404 on
//! `POST /v1/campaigns`) fails the run: it measured nothing.

pub mod figures;
pub mod tally;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use command_api::auth::Role;
use futures::future::join_all;
use reqwest::Method;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::client::{Answer, Api, Checkout, Failed};
use crate::stats::{Report, Samples, route};
use tally::{Outcome, Tally, Verdict};

/// Seller that owns the campaign.
const SELLER: &str = "bench-seller";
/// The SKU's list price, in minor units.
const LIST_PRICE_CENTS: i64 = 999;
/// The campaign price.
const CAMPAIGN_PRICE_CENTS: i64 = 499;
/// Orders (of one unit) a buyer may place in the campaign.
const LIMIT_PER_BUYER: u32 = 1;
/// How long the campaign runs: longer than any run.
const CAMPAIGN_HOURS: i64 = 24;
/// Times a request answered 429 is sent again (after its `Retry-After`) before the buyer
/// gives it up.
const THROTTLED_RETRIES_MAX: u32 = 3;
/// Longest `Retry-After` honoured, in seconds (a longer one is cut to this).
const RETRY_AFTER_MAX_SECS: u64 = 5;

/// How to run a flash sale.
#[derive(Debug, Clone)]
pub struct FlashConfig {
    /// The report's name (`flash-sale`, `redis-peer-flash-sale`, ...).
    pub name: String,
    /// Concurrent clients.
    pub clients: usize,
    /// Units the campaign sells.
    pub stock: u32,
    /// Buyers in all (about ten a unit).
    pub buyers: usize,
    /// Times each placement is sent again, unchanged.
    pub replays: usize,
    /// Every this-many-th buyer tries a second order after the first (0: none does).
    pub second_order_every: usize,
    /// Distinguishes this run's SKU and buyers from earlier runs on the same server.
    pub run_id: String,
    /// Buyers served so far, for a progress display to read.
    pub done: Arc<AtomicU64>,
}

/// Why a flash sale measured nothing.
#[derive(Debug, thiserror::Error)]
pub enum FlashError {
    /// The server has no campaigns.
    #[error(
        "POST /v1/campaigns answered 404: the server at {0} has no campaign route, so there is \
         no flash sale to measure"
    )]
    NoCampaigns(String),
    /// A setup request failed.
    #[error("setting up the flash sale failed: {what} answered {status}")]
    Setup {
        /// The request.
        what: &'static str,
        /// Its status (0: no answer).
        status: u16,
    },
}

/// What a client reads of a created campaign.
#[derive(Debug, Default, Deserialize)]
struct CampaignAnswer {
    campaign_id: String,
    #[serde(default)]
    remaining: Option<i64>,
}

/// Sets up the campaign, runs the buyers, checks the outcome and reports.
pub async fn run(api: &Api, config: &FlashConfig) -> Result<Report, FlashError> {
    let sku = format!("flash-{}", config.run_id);
    api.create_product(SELLER, &sku, LIST_PRICE_CENTS, config.stock)
        .await
        .map_err(|f| FlashError::Setup {
            what: "POST /v1/products",
            status: f.status,
        })?;
    let seller = api.token(Role::Seller, SELLER);
    let ends_at = chrono::Utc::now() + chrono::Duration::hours(CAMPAIGN_HOURS);
    let body = json!({
        "sku": sku, "ends_at": ends_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "price_cents": CAMPAIGN_PRICE_CENTS, "stock": config.stock,
        "limit_per_buyer": LIMIT_PER_BUYER,
    });
    let setup = |f: Failed| FlashError::Setup {
        what: "POST /v1/campaigns",
        status: f.status,
    };
    let created = api
        .exchange(Method::POST, "/v1/campaigns", &seller, Some(&body))
        .await
        .map_err(setup)?;
    match created.status {
        404 => return Err(FlashError::NoCampaigns(api.base().to_owned())),
        200 | 201 => {}
        status => return Err(setup(Failed { status })),
    }
    let campaign = created.json::<CampaignAnswer>().campaign_id;

    let next_buyer = AtomicUsize::new(0);
    let started = Instant::now();
    let clients = (0..config.clients).map(|_| {
        let client = Client {
            api,
            config,
            sku: &sku,
            campaign: &campaign,
        };
        let next_buyer = &next_buyer;
        async move {
            let mut tally = Tally::default();
            let mut samples = Samples::default();
            loop {
                let buyer = next_buyer.fetch_add(1, Ordering::Relaxed);
                if buyer >= config.buyers {
                    break;
                }
                client.buyer(buyer, &mut tally, &mut samples).await;
                config.done.fetch_add(1, Ordering::Relaxed);
            }
            (tally, samples)
        }
    });
    let mut tally = Tally::default();
    let mut samples = Samples::default();
    for (client_tally, client_samples) in join_all(clients).await {
        tally.merge(client_tally);
        samples.merge(client_samples);
    }
    let elapsed = started.elapsed();
    let verdict = Verdict::of(&tally.placed, u64::from(config.stock), 1);
    samples.operations = verdict.reservations;
    let mut report = Report::new(&config.name, config.clients, elapsed, samples);
    let sellout = tally
        .last_placed_at
        .map_or(elapsed, |at| at.duration_since(started));
    let extra = &mut report.extra;
    let mut put = |key: &str, value: f64| {
        extra.insert(key.to_owned(), value);
    };
    put("stock", f64::from(config.stock));
    put("buyers", config.buyers as f64);
    put("replays_per_placement", config.replays as f64);
    put("reservations", verdict.reservations as f64);
    put(
        "reservations_per_s",
        verdict.reservations as f64 / sellout.as_secs_f64().max(f64::EPSILON),
    );
    put("sellout_s", sellout.as_secs_f64());
    put("over_limit", verdict.over_limit as f64);
    for (key, n) in &tally.first {
        put(&format!("first_{key}"), *n as f64);
    }
    for (key, n) in &tally.replays {
        put(&format!("replays_{key}"), *n as f64);
    }
    let mut oversold = verdict.oversold;
    // the server's own count, where it answers it: a reservation no client saw still counts
    if let Some(remaining) = remaining(api, &campaign).await {
        let taken = i64::from(config.stock) - remaining;
        put("campaign_remaining", remaining as f64);
        put(
            "campaign_taken_minus_reservations",
            (taken - verdict.reservations as i64) as f64,
        );
        oversold = oversold.max(u64::try_from(-remaining).unwrap_or(0));
    }
    put("oversold", oversold as f64);
    if let Some(placements) = report.routes.get("POST /v1/orders") {
        let p99 = placements.p99_ms;
        report.extra.insert("placement_p99_ms".to_owned(), p99);
    }
    Ok(report)
}

/// The campaign's `remaining` as the server answers it, if it does.
async fn remaining(api: &Api, campaign: &str) -> Option<i64> {
    let token = api.token(Role::Seller, SELLER);
    let path = format!("/v1/campaigns/{campaign}");
    match api.exchange(Method::GET, &path, &token, None).await {
        Ok(answer) if answer.status == 200 => answer.json::<CampaignAnswer>().remaining,
        _ => None,
    }
}

/// What every buyer of a client shares.
struct Client<'a> {
    api: &'a Api,
    config: &'a FlashConfig,
    sku: &'a str,
    campaign: &'a str,
}

impl Client<'_> {
    /// One buyer: checkout, placement, its replays, and maybe a second order.
    async fn buyer(&self, buyer: usize, tally: &mut Tally, samples: &mut Samples) {
        let subject = format!("flash-{}-b{buyer}", self.config.run_id);
        let token = self.api.token(Role::Buyer, &subject);
        let orders =
            if self.config.second_order_every > 0 && buyer % self.config.second_order_every == 0 {
                2
            } else {
                1
            };
        for _ in 0..orders {
            let Some(checkout) = self
                .send(Method::POST, "/v1/checkout", &token, None, samples)
                .await
            else {
                return;
            };
            if checkout.status >= 300 {
                return;
            }
            let mut body = checkout
                .json::<Checkout>()
                .placement(&[(self.sku, LIMIT_PER_BUYER)]);
            body["campaign_id"] = json!(self.campaign);
            for replay in 0..=self.config.replays {
                let Some(answer) = self
                    .send(Method::POST, "/v1/orders", &token, Some(&body), samples)
                    .await
                else {
                    continue;
                };
                tally.count(buyer, &Outcome::of(&answer), replay > 0);
            }
        }
    }

    /// Sends a request, again after each 429's `Retry-After` (a few times); records every
    /// answer's latency, and each refusal and error by status. `None` when no answer came.
    async fn send(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<&Value>,
        samples: &mut Samples,
    ) -> Option<Answer> {
        let route = route(method.as_str(), path);
        let mut retries = 0;
        loop {
            let answer = match self.api.exchange(method.clone(), path, token, body).await {
                Ok(answer) => answer,
                Err(failed) => {
                    *samples.errors.entry(failed.status).or_default() += 1;
                    return None;
                }
            };
            samples.route_request(route.clone(), answer.took);
            match answer.status {
                200..=299 => {}
                403 | 409 | 429 => *samples.refusals.entry(answer.status).or_default() += 1,
                status => *samples.errors.entry(status).or_default() += 1,
            }
            if answer.status != 429 || retries == THROTTLED_RETRIES_MAX {
                return Some(answer);
            }
            retries += 1;
            let wait = answer
                .retry_after_secs
                .unwrap_or(1)
                .min(RETRY_AFTER_MAX_SECS);
            tokio::time::sleep(Duration::from_secs(wait)).await;
        }
    }
}
