//! hot-sku's baseline, measured in the same run: the framework used naively on one hot
//! aggregate (shared/bench). cqrs-es 0.5 with postgres-es 0.5's `postgres_cqrs`, one command
//! per call (load the whole stream, decide, append at the next sequence in a transaction of
//! its own), every client reserving one unit of the same SKU with the domain's own `Sku`
//! aggregate, and trying again when another client's append took the sequence first. Only
//! reservations that were written count.

use std::time::{Duration, Instant};

use chrono::Utc;
use cqrs_es::AggregateError;
use domain::{CreateSku, OrderId, Quantity, ReserveStock, SellerId, Sku, SkuCommand, SkuId};
use futures::future::join_all;
use postgres_es::{PostgresCqrs, postgres_cqrs};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

use crate::scenario::STOCK_LARGE;
use crate::stats::{Report, Samples};

/// Connections, as postgres-es's `default_postgress_pool` makes them.
const POOL: u32 = 10;
/// The report's name.
pub const NAME: &str = "naive-hot-aggregate";
/// The latency route of a reservation, its conflicts and retries included.
const ROUTE: &str = "execute Sku ReserveStock (retries included)";
/// Order ids of one client: client `c` reserves for `c * CLIENT_IDS + n`.
const CLIENT_IDS: u64 = 1 << 32;

/// Connects as postgres-es's `default_postgress_pool` does: a pool of 10 connections.
pub async fn connect(database_url: &str) -> sqlx::Result<PgPool> {
    PgPoolOptions::new()
        .max_connections(POOL)
        .connect(database_url)
        .await
}

/// Runs `clients` clients against the postgres-es schema (`bench/pg-events-schema.sql`) in
/// `pool` for `warmup + duration`, and reports the reservations written after the
/// warm-up (a reservation counts when it began after the warm-up; one still conflicting at
/// the end is given up). Conflicts, each followed by a retry, are in `extra["conflicts"]`.
pub async fn hot_aggregate(
    pool: PgPool,
    clients: usize,
    warmup: Duration,
    duration: Duration,
) -> anyhow::Result<Report> {
    let cqrs: PostgresCqrs<Sku> = postgres_cqrs(pool, Vec::new(), ());
    let sku = SkuId::parse(&format!("naive-hot-{:x}", Utc::now().timestamp_millis()))?;
    cqrs.execute(
        sku.as_str(),
        SkuCommand::CreateSku(CreateSku {
            sku: sku.clone(),
            seller: SellerId::parse("bench-seller")?,
            initial_stock: STOCK_LARGE,
            at: Utc::now(),
        }),
    )
    .await?;
    let quantity = Quantity::new(1)?;
    let started = Instant::now();
    let measure_from = started + warmup;
    let end = measure_from + duration;
    let runs = (0..clients).map(|client| {
        let cqrs = &cqrs;
        let sku = sku.as_str();
        async move {
            let mut samples = Samples::default();
            let mut conflicts = 0_u64;
            let mut n = 0_u64;
            while Instant::now() < end {
                n += 1;
                let order_id = OrderId::new(client as u64 * CLIENT_IDS + n)?;
                let began = Instant::now();
                let measuring = began >= measure_from;
                while Instant::now() < end {
                    let reserve = SkuCommand::ReserveStock(ReserveStock {
                        order_id,
                        quantity,
                        at: Utc::now(),
                    });
                    match cqrs.execute(sku, reserve).await {
                        Ok(()) => {
                            if measuring {
                                samples.route_request(ROUTE.to_owned(), began.elapsed());
                                samples.operations += 1;
                            }
                            break;
                        }
                        Err(AggregateError::AggregateConflict) => conflicts += 1,
                        Err(other) => return Err(anyhow::Error::new(other)),
                    }
                }
            }
            Ok::<_, anyhow::Error>((samples, conflicts))
        }
    });
    let mut merged = Samples::default();
    let mut conflicts = 0;
    for outcome in join_all(runs).await {
        let (samples, client_conflicts) = outcome?;
        merged.merge(samples);
        conflicts += client_conflicts;
    }
    let mut report = Report::new(NAME, clients, duration, merged);
    report.extra.insert("conflicts".into(), conflicts as f64);
    Ok(report)
}
