//! `/metrics` beyond the requests: the process (memory, CPU, file descriptors, start time),
//! the build, the database pool, and where each follower of the log has got to.

use crate::helpers::{NewProduct, TestApp};

/// The value of the sample `series` (name and labels, as exposed) in `text`.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {series} in\n{text}"))
        .parse()
        .unwrap_or_else(|err| panic!("{series}: {err}"))
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
        .metrics_with(r#"projection_position{projection="orders"}"#)
        .await;
    let log_events = 3.0;
    crate::helpers::eventually(|| async {
        let text = app.text("/metrics").await;
        let views = sample(&text, r#"projection_position{projection="orders"}"#);
        let reactions = sample(&text, r#"reaction_position{reaction="order-reactions"}"#);
        (views >= log_events && reactions >= log_events).then_some(())
    })
    .await;
    assert!(
        text.contains(r#"lease_held{lease="projection:orders"} 1"#),
        "{text}"
    );
}
