//! The scenarios. Each client loops until the deadline; operations that complete after the
//! warm-up count. A failed request ends its operation, which does not count.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use command_api::auth::Role;
use futures::future::join_all;
use reqwest::Method;
use serde::de::IgnoredAny;
use serde_json::json;

use crate::client::{Api, Checkout, Failed, Placed, is_conflict};
use crate::rng::Rng;
use crate::stats::{Report, Samples};

/// Seller that owns the benchmark catalogue.
const SELLER: &str = "bench-seller";
/// Stock of every catalogue SKU and of the hot SKU when it must not run out (and of the naive
/// baseline's SKU).
pub(crate) const STOCK_LARGE: u32 = 2_000_000_000;
/// Orders each read-mix client places before measuring, to have something to read.
const READ_MIX_SEED_ORDERS: usize = 5;

/// What to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// Checkout, place an order of 1-3 items from a large catalogue, notify its payment.
    PlacePay,
    /// One-item orders, all on one SKU whose stock outlasts the run.
    HotSku,
    /// One-item orders on one SKU whose stock runs out mid-run: sold must equal the stock.
    HotSkuSellout,
    /// 90% reads (buyer list, order detail), 10% placements.
    ReadMix,
}

/// How to run it.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// Concurrent clients.
    pub clients: usize,
    /// Measured time.
    pub duration: Duration,
    /// Time before measuring starts.
    pub warmup: Duration,
    /// SKUs in the catalogue (place-pay, read-mix).
    pub catalogue: usize,
    /// Stock of the hot SKU in the sell-out variant.
    pub sellout_stock: u32,
    /// Distinguishes this run's SKUs and buyers from earlier runs on the same server.
    pub run_id: String,
    /// Operations completed so far, warm-up included, for a progress display to read.
    pub done: Arc<AtomicU64>,
}

struct Clock {
    measure_from: Instant,
    end: Instant,
}

impl Clock {
    fn measuring(&self) -> bool {
        Instant::now() >= self.measure_from
    }
}

/// Sets up the scenario's products, runs it, and reports.
pub async fn run(api: &Api, scenario: Scenario, config: &RunConfig) -> Result<Report, Failed> {
    let run = &config.run_id;
    let catalogue: Vec<String> = (0..config.catalogue.max(3))
        .map(|i| format!("bench-{run}-{i}"))
        .collect();
    let hot = format!("bench-{run}-hot");
    match scenario {
        Scenario::PlacePay | Scenario::ReadMix => {
            for sku in &catalogue {
                api.create_product(SELLER, sku, 1_999, STOCK_LARGE).await?;
            }
        }
        Scenario::HotSku => api.create_product(SELLER, &hot, 999, STOCK_LARGE).await?,
        Scenario::HotSkuSellout => {
            api.create_product(SELLER, &hot, 999, config.sellout_stock)
                .await?;
        }
    }
    let started = Instant::now();
    let clock = Clock {
        measure_from: started + config.warmup,
        end: started + config.warmup + config.duration,
    };
    let clients = (0..config.clients).map(|client| {
        let api = api.clone();
        let catalogue = &catalogue;
        let hot = &hot;
        let clock = &clock;
        async move {
            let buyer = format!("bench-{run}-b{client}");
            let mut rng = Rng::new(client as u64 + 1);
            let mut samples = Samples::default();
            let mut placed_total = 0_u64;
            let mut orders: Vec<String> = Vec::new();
            if scenario == Scenario::ReadMix {
                for _ in 0..READ_MIX_SEED_ORDERS {
                    if let Ok(order) = place(&api, &buyer, &pick(&mut rng, catalogue), None).await {
                        orders.push(order.order_id);
                    }
                }
            }
            let mut n = 0_u64;
            while Instant::now() < clock.end {
                n += 1;
                let measuring = clock.measuring();
                let mut counted = Samples::default();
                let outcome = match scenario {
                    Scenario::PlacePay => {
                        place_pay(
                            &api,
                            &buyer,
                            &pick(&mut rng, catalogue),
                            n,
                            run,
                            &mut counted,
                        )
                        .await
                    }
                    Scenario::HotSku | Scenario::HotSkuSellout => {
                        let items = [(hot.as_str(), 1)];
                        place(&api, &buyer, &items, Some(&mut counted))
                            .await
                            .map(|_| {
                                placed_total += 1;
                            })
                    }
                    Scenario::ReadMix => {
                        read_mix(&api, &buyer, &mut rng, catalogue, &mut orders, &mut counted).await
                    }
                };
                if outcome.is_ok() {
                    config.done.fetch_add(1, Ordering::Relaxed);
                }
                match outcome {
                    Ok(()) if measuring => {
                        counted.operations = 1;
                        samples.merge(counted);
                    }
                    Ok(()) => {}
                    Err(failed) if is_conflict(failed) && scenario == Scenario::HotSkuSellout => {
                        if measuring {
                            *samples.refusals.entry(failed.status).or_default() += 1;
                        }
                    }
                    Err(failed) => {
                        if measuring {
                            *samples.errors.entry(failed.status).or_default() += 1;
                        }
                    }
                }
            }
            (samples, placed_total)
        }
    });
    let results = join_all(clients).await;
    let mut merged = Samples::default();
    let mut placed = 0;
    for (samples, client_placed) in results {
        merged.merge(samples);
        placed += client_placed;
    }
    let name = match scenario {
        Scenario::PlacePay => "place-pay",
        Scenario::HotSku => "hot-sku",
        Scenario::HotSkuSellout => "hot-sku-sellout",
        Scenario::ReadMix => "read-mix",
    };
    let mut report = Report::new(name, config.clients, config.duration, merged);
    if scenario == Scenario::HotSkuSellout {
        let (available, reserved, sold) = api.stock(SELLER, &hot).await?;
        let stock = u64::from(config.sellout_stock);
        report.extra.insert("initial_stock".into(), stock as f64);
        report.extra.insert("placed".into(), placed as f64);
        report
            .extra
            .insert("oversold".into(), placed.saturating_sub(stock) as f64);
        report.extra.insert("available".into(), available as f64);
        report.extra.insert("reserved".into(), reserved as f64);
        report.extra.insert("sold".into(), sold as f64);
    }
    Ok(report)
}

fn pick<'a>(rng: &mut Rng, catalogue: &'a [String]) -> Vec<(&'a str, u32)> {
    let lines = 1 + rng.below(3) as usize;
    let mut items: Vec<(&str, u32)> = Vec::with_capacity(lines);
    while items.len() < lines {
        let sku = catalogue[rng.below(catalogue.len() as u64) as usize].as_str();
        if !items.iter().any(|(s, _)| *s == sku) {
            items.push((sku, 1 + rng.below(2) as u32));
        }
    }
    items
}

/// Checkout and place; answers with the placed order.
async fn place(
    api: &Api,
    buyer: &str,
    items: &[(&str, u32)],
    mut samples: Option<&mut Samples>,
) -> Result<Placed, Failed> {
    let token = api.token(Role::Buyer, buyer);
    let checkout: Checkout = api
        .call(
            Method::POST,
            "/v1/checkout",
            &token,
            None,
            samples.as_deref_mut(),
        )
        .await?;
    let body = checkout.placement(items);
    api.call(Method::POST, "/v1/orders", &token, Some(&body), samples)
        .await
}

async fn place_pay(
    api: &Api,
    buyer: &str,
    items: &[(&str, u32)],
    n: u64,
    run: &str,
    samples: &mut Samples,
) -> Result<(), Failed> {
    let order = place(api, buyer, items, Some(samples)).await?;
    let body = json!({
        "order_id": order.order_id,
        "txn_id": format!("T-{run}-{buyer}-{n}"),
        "amount_cents": order.total_cents,
    });
    api.notify(&body, Some(samples)).await
}

async fn read_mix(
    api: &Api,
    buyer: &str,
    rng: &mut Rng,
    catalogue: &[String],
    orders: &mut Vec<String>,
    samples: &mut Samples,
) -> Result<(), Failed> {
    let token = api.token(Role::Buyer, buyer);
    match rng.below(20) {
        0 | 1 => {
            let order = place(api, buyer, &pick(rng, catalogue), Some(samples)).await?;
            orders.push(order.order_id);
            Ok(())
        }
        k if k % 2 == 0 && !orders.is_empty() => {
            let id = &orders[rng.below(orders.len() as u64) as usize];
            // the client's own order: read your writes, as a client after placing would
            api.call::<IgnoredAny>(
                Method::GET,
                &format!("/v1/orders/{id}?min_version=1"),
                &token,
                None,
                Some(samples),
            )
            .await
            .map(|_| ())
        }
        _ => api
            .call::<IgnoredAny>(
                Method::GET,
                "/v1/buyers/me/orders",
                &token,
                None,
                Some(samples),
            )
            .await
            .map(|_| ()),
    }
}
