//! The load: clients that check out, place, and mostly pay, retrying through faults as a real
//! client would (the same request again), and record in the ledger what was acknowledged.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use command_api::auth::Role;
use loadgen::client::{Api, Checkout, Failed, Placed};
use loadgen::rng::Rng;
use reqwest::Method;
use serde::de::IgnoredAny;
use serde_json::json;

use crate::ledger::{AckedPayment, Ledger, PlacedOrder};

/// The seller of the catalogue.
pub const SELLER: &str = "chaos-seller";
/// SKUs in the catalogue.
pub const CATALOGUE_SIZE: usize = 20;
/// Stock of each SKU: never the reason a placement is refused.
const STOCK: u32 = 1_000_000_000;
/// Price of each SKU.
const PRICE_CENTS: i64 = 1_250;
/// Out of this many orders, how many are left unpaid so that their deadlines must fire.
const UNPAID_OUT_OF: u64 = 4;
/// Out of this many acknowledged payments, one is notified again (a provider's duplicate).
const DUPLICATE_NOTIFY_OUT_OF: u64 = 8;
/// How long one request is retried through faults before the client gives up on it.
const RETRY_BUDGET_SECS: u64 = 60;
/// First wait between retries; doubles up to [`RETRY_WAIT_MAX_MS`].
const RETRY_WAIT_MIN_MS: u64 = 50;
/// Longest wait between retries.
const RETRY_WAIT_MAX_MS: u64 = 1_000;

/// Requests that ended without an acknowledgement, for the figures.
#[derive(Debug, Default)]
pub struct Counters {
    /// Attempts that got no answer or a 5xx, and were retried.
    pub retried: AtomicU64,
    /// Operations given up after the retry budget or on a 4xx.
    pub abandoned: AtomicU64,
}

/// The catalogue's SKUs for a run.
pub fn catalogue(run: &str) -> Vec<String> {
    (0..CATALOGUE_SIZE)
        .map(|i| format!("chaos-{run}-{i}"))
        .collect()
}

/// Creates the catalogue through `api`, retrying while the server starts.
pub async fn create_catalogue(api: &Api, skus: &[String]) -> anyhow::Result<()> {
    for sku in skus {
        let deadline = Instant::now() + Duration::from_secs(RETRY_BUDGET_SECS);
        loop {
            match api.create_product(SELLER, sku, PRICE_CENTS, STOCK).await {
                Ok(()) => break,
                Err(_) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(RETRY_WAIT_MAX_MS)).await;
                }
                Err(failed) => anyhow::bail!("creating {sku}: HTTP {}", failed.status),
            }
        }
    }
    Ok(())
}

/// One load client: its own buyer, its server, and its share of the ledger.
pub struct Client {
    /// The server it talks to.
    pub api: Api,
    /// Its buyer id.
    pub buyer: String,
    /// Its random choices.
    pub rng: Rng,
    /// The catalogue.
    pub skus: Arc<Vec<String>>,
    /// Where acknowledgements go.
    pub ledger: Arc<Ledger>,
    /// Failures, for the figures.
    pub counters: Arc<Counters>,
    /// Distinguishes this run's transaction ids.
    pub run: String,
}

impl Client {
    /// Places (and mostly pays) orders until `stop`; an operation under way when `stop` is
    /// set is finished (with its retries), so that its acknowledgement is not missed.
    pub async fn run(mut self, stop: Arc<AtomicBool>) {
        let mut n = 0_u64;
        while !stop.load(Ordering::Relaxed) {
            n += 1;
            if self.order(n).await.is_err() {
                self.counters.abandoned.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    async fn order(&mut self, n: u64) -> Result<(), Failed> {
        let token = self.api.token(Role::Buyer, &self.buyer);
        let checkout: Checkout = self
            .retry(|api| {
                let token = &token;
                async move {
                    api.call(Method::POST, "/v1/checkout", token, None, None)
                        .await
                }
            })
            .await?;
        let items = self.pick();
        let body = checkout.placement(&items);
        let token = self.api.token(Role::Buyer, &self.buyer);
        let placed: Placed = self
            .retry(|api| {
                let (token, body) = (&token, &body);
                async move {
                    api.call(Method::POST, "/v1/orders", token, Some(body), None)
                        .await
                }
            })
            .await?;
        self.ledger.placed(PlacedOrder {
            order_id: placed.order_id.clone(),
            buyer: self.buyer.clone(),
            items,
            total_cents: placed.total_cents,
        });
        if self.rng.below(UNPAID_OUT_OF) == 0 {
            return Ok(());
        }
        let txn_id = format!("T-{}-{}-{n}", self.run, self.buyer);
        let notification = json!({
            "order_id": placed.order_id,
            "txn_id": txn_id,
            "amount_cents": placed.total_cents,
        });
        let times = if self.rng.below(DUPLICATE_NOTIFY_OUT_OF) == 0 {
            2
        } else {
            1
        };
        for _ in 0..times {
            self.retry(|api| {
                let notification = &notification;
                async move { api.notify(notification, None).await.map(|()| IgnoredAny) }
            })
            .await?;
            self.ledger.paid(AckedPayment {
                order_id: placed.order_id.clone(),
                txn_id: txn_id.clone(),
                amount_cents: placed.total_cents,
            });
        }
        Ok(())
    }

    fn pick(&mut self) -> Vec<(String, u32)> {
        let lines = 1 + self.rng.below(3) as usize;
        let mut items: Vec<(String, u32)> = Vec::with_capacity(lines);
        while items.len() < lines {
            let sku = &self.skus[self.rng.below(self.skus.len() as u64) as usize];
            if !items.iter().any(|(s, _)| s == sku) {
                items.push((sku.clone(), 1 + self.rng.below(2) as u32));
            }
        }
        items
    }

    /// Sends the same request until it is answered 2xx, refused with a 4xx other than 429,
    /// or the retry budget is spent.
    async fn retry<'a, T, F, Fut>(&'a self, send: F) -> Result<T, Failed>
    where
        F: Fn(&'a Api) -> Fut,
        Fut: Future<Output = Result<T, Failed>>,
    {
        let deadline = Instant::now() + Duration::from_secs(RETRY_BUDGET_SECS);
        let mut wait = Duration::from_millis(RETRY_WAIT_MIN_MS);
        loop {
            match send(&self.api).await {
                Ok(answer) => return Ok(answer),
                Err(failed) if retryable(failed) && Instant::now() < deadline => {
                    self.counters.retried.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_millis(RETRY_WAIT_MAX_MS));
                }
                Err(failed) => return Err(failed),
            }
        }
    }
}

/// No answer, 408, 429 or 5xx: the same request may be sent again.
fn retryable(failed: Failed) -> bool {
    matches!(failed.status, 0 | 408 | 429) || failed.status >= 500
}
