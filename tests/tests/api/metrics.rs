//! `/metrics` beyond the requests: the process (memory, CPU, file descriptors, start time),
//! the build, the database pool, and where each follower of the log has got to, on each
//! shard.

use event_store::gene_of_buyer;
use sqlx::Connection;

use crate::helpers::{NewProduct, SHARDS, TestApp, eventually};
use crate::sharding::{THIRDS, id_on};

/// The value of the sample `series` (name and labels, as exposed) in `text`, if it is there.
fn sample_in(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map(|value| {
            value
                .parse()
                .unwrap_or_else(|err| panic!("{series}: {err}"))
        })
}

/// The value of the sample `series` in `text`.
fn sample(text: &str, series: &str) -> f64 {
    sample_in(text, series).unwrap_or_else(|| panic!("no {series} in\n{text}"))
}

/// Each new family is exposed with a sensible value, and the followers' positions reach an
/// order's events.
pub async fn the_metrics_show_the_process_the_build_the_pool_and_the_followers(app: TestApp) {
    app.create_product(NewProduct {
        sku: "tea-500g",
        price_cents: 1299,
        stock: 10,
    })
    .await;
    app.order("b-1", &[("tea-500g", 1, 1)]).await;
    let version = env!("CARGO_PKG_VERSION");
    let text = app
        .metrics_with(&format!("orders_build_info{{version=\"{version}\"}} 1"))
        .await;

    assert!(sample(&text, "process_resident_memory_bytes") > 1_000_000.0);
    assert!(sample(&text, "process_open_fds") > 3.0);
    assert!(sample(&text, "process_cpu_seconds_total") >= 0.0);
    let started = sample(&text, "process_start_time_seconds");
    let now = chrono::Utc::now().timestamp() as f64;
    assert!(started > now - 3_600.0 && started <= now + 1.0, "{started}");

    let max = sample(&text, "db_pool_connections_max");
    let idle = sample(&text, r#"db_pool_connections{state="idle"}"#);
    let in_use = sample(&text, r#"db_pool_connections{state="in_use"}"#);
    assert!(max >= 1.0, "{max}");
    assert!(
        idle + in_use >= 1.0 && idle + in_use <= max,
        "{idle} + {in_use} of {max}"
    );

    // the order's events are in the log: every view and reaction gets past them
    let text = app
        .metrics_with(r#"projection_position{projection="orders",shard="default"}"#)
        .await;
    let log_events = 3.0;
    eventually(|| async {
        let text = app.text("/metrics").await;
        let views = sample(
            &text,
            r#"projection_position{projection="orders",shard="default"}"#,
        );
        let reactions = sample(
            &text,
            r#"reaction_position{reaction="order-reactions",shard="default"}"#,
        );
        (views >= log_events && reactions >= log_events).then_some(())
    })
    .await;
    assert!(
        text.contains(r#"lease_held{lease="projection:orders",shard="default"} 1"#),
        "{text}"
    );
}

/// The position of `projection`'s checkpoint in the database at `url`.
async fn checkpoint_in(url: &str, projection: &str) -> i64 {
    let mut db = sqlx::PgConnection::connect(url).await.unwrap();
    sqlx::query_scalar("SELECT position FROM projection_checkpoints WHERE projection = $1")
        .bind(projection)
        .fetch_one(&mut db)
        .await
        .unwrap()
}

/// Every follower of the log and every lease runs once per shard (ADR 42), and each has its
/// own series, labelled by its shard: each shard's `orders` projection shows its own
/// checkpoint (the shards' logs end at different positions, so a series that mixed them up
/// would show another's), and each shard's lease and reaction lag is there.
pub async fn each_shards_followers_and_leases_have_their_own_series(app: TestApp) {
    app.create_product(NewProduct {
        sku: "tea",
        price_cents: 300,
        stock: 100,
    })
    .await;
    // one, two and three orders on the three shards
    for (n, genes) in THIRDS.iter().enumerate() {
        for i in 0..=n {
            let buyer = id_on(&format!("buyer{i}"), genes, gene_of_buyer);
            app.order(&buyer, &[("tea", 1, 1)]).await;
        }
    }
    app.read_side_settled().await;
    let names = ["default", SHARDS[0], SHARDS[1]];
    let urls = app.databases();
    assert_eq!(urls.len(), names.len());

    // the reactions append too (a placed order clears the cart): compared once all settle
    let (text, checkpoints) = eventually(|| async {
        let text = app.text("/metrics").await;
        let mut checkpoints = Vec::new();
        for (shard, url) in names.iter().zip(&urls) {
            let checkpoint = checkpoint_in(url, "orders").await;
            let shown = sample_in(
                &text,
                &format!(r#"projection_position{{projection="orders",shard="{shard}"}}"#),
            )?;
            let reaction_lag = sample_in(
                &text,
                &format!(r#"reaction_lag_events{{reaction="order-reactions",shard="{shard}"}}"#),
            )?;
            if shown != checkpoint as f64 || reaction_lag != 0.0 {
                return None;
            }
            checkpoints.push(checkpoint);
        }
        Some((text, checkpoints))
    })
    .await;
    assert!(
        checkpoints[0] != checkpoints[1]
            && checkpoints[1] != checkpoints[2]
            && checkpoints[0] != checkpoints[2],
        "the shards' checkpoints {checkpoints:?} should differ, to tell the series apart"
    );
    for shard in names {
        for series in [
            format!(r#"lease_held{{lease="projection:orders",shard="{shard}"}} 1"#),
            format!(r#"lease_held{{lease="reaction:order-reactions",shard="{shard}"}} 1"#),
            format!(r#"reaction_position{{reaction="order-reactions",shard="{shard}"}}"#),
            format!(r#"projection_lag_events{{projection="orders",shard="{shard}"}} 0"#),
        ] {
            assert!(text.contains(&series), "no {series} in\n{text}");
        }
    }
    // every series of a family carries the label: none of them is shared by the shards
    for family in ["projection_position", "reaction_lag_events", "lease_held"] {
        for line in text
            .lines()
            .filter(|l| l.starts_with(&format!("{family}{{")))
        {
            assert!(line.contains(",shard=\""), "{line}");
        }
    }
    app.stop().await;
}
