//! The benchmark table: every figure beside its baseline from the same run, and
//! `summary.json` with the keys the project tracks.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Map, Value, json};

use crate::stats::Report;

/// Figures measured outside the load generator, by the bench script.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Measured {
    /// Clients of every concurrent step.
    #[arg(long)]
    pub clients: usize,
    /// pgbench one-row insert transactions per second (the baseline).
    #[arg(long)]
    pub baseline_insert_tx_per_s: f64,
    /// COPY read rate of the events table (the rebuild's baseline).
    #[arg(long)]
    pub copy_events_per_s: Option<f64>,
    /// Events the COPY and the rebuild read.
    #[arg(long)]
    pub events: Option<u64>,
    /// `orders replay` rate over the same events.
    #[arg(long)]
    pub rebuild_events_per_s: Option<f64>,
    /// Order ids one generator issues per second.
    #[arg(long)]
    pub order_ids_per_s: Option<f64>,
    /// The server's peak resident set size.
    #[arg(long)]
    pub server_peak_rss_mb: Option<f64>,
    /// Seconds after place-pay's measured window until every reaction and projection of the
    /// server had caught up with the log: the work its orders/s left queued.
    #[arg(long)]
    pub place_pay_drain_s: Option<f64>,
    /// JetStream publishes acknowledged per second, pipelined in batches (`loadgen
    /// nats-publish`): the relay's baseline. None when no NATS answered.
    #[arg(long)]
    pub nats_publish_per_s: Option<f64>,
    /// The same, each publish awaiting its acknowledgement before the next.
    #[arg(long)]
    pub nats_publish_one_at_a_time_per_s: Option<f64>,
    /// Events per second a relay-only node published (and had acknowledged) draining the
    /// grown log from its start (`loadgen relay-drain`). None when no NATS answered.
    #[arg(long)]
    pub relay_events_per_s: Option<f64>,
    /// Events that drain published.
    #[arg(long)]
    pub relay_drained_events: Option<u64>,
    /// p99 from an event's commit to its JetStream acknowledgement while place-pay ran
    /// beside the relay (`loadgen relay-lag`), in ms.
    #[arg(long)]
    pub relay_lag_p99_ms: Option<f64>,
    /// place-pay's orders/s on a server that also relays the log to NATS (a step of its own,
    /// so that the scenarios above keep the cores to themselves).
    #[arg(long)]
    pub place_pay_beside_relay_orders_per_s: Option<f64>,
    /// That step's p99 per request, in ms.
    #[arg(long)]
    pub place_pay_beside_relay_p99_ms: Option<f64>,
    /// Genes per second `orders reshard` moved between two databases while place-pay ran
    /// (`reshard-place-pay`): the genes over the move's whole time, its four steps.
    #[arg(long)]
    pub reshard_genes_per_s: Option<f64>,
    /// The genes that move took.
    #[arg(long)]
    pub reshard_genes: Option<u64>,
}

/// The shard steps' reports: place-pay with every gene on one of two databases, during the
/// move of half of them, and with half on each.
const SHARD1: &str = "shard1-place-pay";
const RESHARD: &str = "reshard-place-pay";
const SHARD2: &str = "shard2-place-pay";
/// Two shards must place and pay at this share of one at least (routing must not cost).
const SHARD2_OVER_SHARD1_TARGET: f64 = 0.9;

/// place-pay on two databases over one, in the same step: routing's cost per order.
fn shard2_over_shard1(reports: &BTreeMap<String, Report>) -> Option<f64> {
    let one = reports.get(SHARD1)?.operations_per_s;
    let two = reports.get(SHARD2)?.operations_per_s;
    (one > 0.0).then(|| two / one)
}

impl Measured {
    /// The relay's drain rate over the pipelined NATS baseline of the same run.
    pub fn relay_over_nats_publish(&self) -> Option<f64> {
        match (self.relay_events_per_s, self.nats_publish_per_s) {
            (Some(relay), Some(nats)) if nats > 0.0 => Some(relay / nats),
            _ => None,
        }
    }
}

/// Naive cqrs-es figure on one hot aggregate as shared/bench gives it for this machine kind
/// (the upper end of 170-590/s): the figure hot-sku's target is set against.
const NAIVE_HOT_AGGREGATE_PER_S: f64 = 590.0;
/// The relay's drain rate must reach this share of the pipelined NATS baseline.
const RELAY_OVER_NATS_PUBLISH_TARGET: f64 = 0.5;
/// The relay's p99 from commit to acknowledgement during place-pay must stay under this.
const RELAY_LAG_P99_TARGET_MS: f64 = 100.0;

/// Builds `summary.json` from the scenario reports and the other figures.
pub fn summary(measured: &Measured, reports: &BTreeMap<String, Report>) -> Value {
    let report = |name: &str| reports.get(name);
    let mut out = Map::new();
    let mut put = |key: &str, value: Option<f64>| {
        out.insert(key.to_owned(), value.map_or(Value::Null, |v| json!(v)));
    };
    put("clients", Some(measured.clients as f64));
    put(
        "baseline_insert_tx_per_s",
        Some(measured.baseline_insert_tx_per_s),
    );
    put(
        "place_pay_orders_per_s",
        report("place-pay").map(|r| r.operations_per_s),
    );
    put("place_pay_p99_ms", report("place-pay").map(|r| r.p99_ms));
    put("place_pay_drain_s", measured.place_pay_drain_s);
    put(
        "hot_sku_reservations_per_s",
        report("hot-sku").map(|r| r.operations_per_s),
    );
    put(
        "naive_hot_aggregate_per_s",
        report(crate::naive::NAME).map(|r| r.operations_per_s),
    );
    put(
        "hot_sku_oversold",
        report("hot-sku-sellout").and_then(|r| r.extra.get("oversold").copied()),
    );
    put(
        "read_mix_requests_per_s",
        report("read-mix").map(|r| r.requests_per_s),
    );
    put("copy_events_per_s", measured.copy_events_per_s);
    put("rebuild_events_per_s", measured.rebuild_events_per_s);
    put("events", measured.events.map(|e| e as f64));
    put("order_ids_per_s", measured.order_ids_per_s);
    put("server_peak_rss_mb", measured.server_peak_rss_mb);
    put("nats_publish_per_s", measured.nats_publish_per_s);
    put(
        "nats_publish_one_at_a_time_per_s",
        measured.nats_publish_one_at_a_time_per_s,
    );
    put("relay_events_per_s", measured.relay_events_per_s);
    put(
        "relay_over_nats_publish",
        measured.relay_over_nats_publish(),
    );
    put("relay_lag_p99_ms", measured.relay_lag_p99_ms);
    put(
        "place_pay_beside_relay_orders_per_s",
        measured.place_pay_beside_relay_orders_per_s,
    );
    let orders_per_s = |name: &str| report(name).map(|r| r.operations_per_s);
    put("shard1_place_pay_orders_per_s", orders_per_s(SHARD1));
    put("shard2_place_pay_orders_per_s", orders_per_s(SHARD2));
    put("shard2_over_shard1", shard2_over_shard1(reports));
    put("reshard_genes_per_s", measured.reshard_genes_per_s);
    put("reshard_place_pay_orders_per_s", orders_per_s(RESHARD));
    put(
        "reshard_place_pay_p99_ms",
        report(RESHARD).map(|r| r.p99_ms),
    );
    for (key, value) in crate::flash::figures::keys(reports) {
        put(key, value);
    }
    Value::Object(out)
}

/// The table rows: (figure, value, baseline, ratio).
pub fn table(measured: &Measured, reports: &BTreeMap<String, Report>) -> Vec<[String; 4]> {
    let mut rows = Vec::new();
    let base = measured.baseline_insert_tx_per_s;
    let fmt = |v: f64| format!("{v:.0}");
    let ratio = |v: f64, b: f64| {
        if b > 0.0 {
            format!("{:.2}x", v / b)
        } else {
            "-".to_owned()
        }
    };
    rows.push([
        "pgbench insert tx/s (baseline)".to_owned(),
        fmt(base),
        "-".to_owned(),
        "-".to_owned(),
    ]);
    if let Some(r) = reports.get("place-pay") {
        rows.push([
            "place-pay orders/s".to_owned(),
            fmt(r.operations_per_s),
            format!("{} insert tx/s", fmt(base)),
            ratio(r.operations_per_s, base),
        ]);
        rows.push([
            "place-pay p99 ms per request".to_owned(),
            format!("{:.1}", r.p99_ms),
            "50 ms (target)".to_owned(),
            "-".to_owned(),
        ]);
        rows.push([
            "place-pay: s until reactions and views caught up after the run".to_owned(),
            measured
                .place_pay_drain_s
                .map_or("not measured".to_owned(), |d| format!("{d:.1}")),
            "-".to_owned(),
            "-".to_owned(),
        ]);
    }
    if let Some(r) = reports.get("hot-sku") {
        rows.push([
            "hot-sku reservations/s".to_owned(),
            fmt(r.operations_per_s),
            format!("{NAIVE_HOT_AGGREGATE_PER_S:.0} (naive cqrs-es, shared/bench)"),
            ratio(r.operations_per_s, NAIVE_HOT_AGGREGATE_PER_S),
        ]);
        if let Some(naive) = reports.get(crate::naive::NAME) {
            rows.push([
                "hot-sku reservations/s against naive cqrs-es in this run".to_owned(),
                fmt(r.operations_per_s),
                format!("{} naive reservations/s", fmt(naive.operations_per_s)),
                ratio(r.operations_per_s, naive.operations_per_s),
            ]);
        }
    }
    if let Some(r) = reports.get("hot-sku-sellout") {
        let get = |k: &str| r.extra.get(k).copied().unwrap_or(0.0);
        rows.push([
            "hot-sku sell-out: placed / stock (oversold)".to_owned(),
            format!(
                "{} / {} ({})",
                get("placed"),
                get("initial_stock"),
                get("oversold")
            ),
            "oversold 0".to_owned(),
            "-".to_owned(),
        ]);
    }
    if let Some(r) = reports.get("read-mix") {
        rows.push([
            "read-mix requests/s (p99 ms)".to_owned(),
            format!("{} ({:.1})", fmt(r.requests_per_s), r.p99_ms),
            "-".to_owned(),
            "-".to_owned(),
        ]);
    }
    let copy = measured.copy_events_per_s;
    rows.push([
        format!(
            "full rebuild events/s ({} events)",
            measured.events.map_or("-".to_owned(), |e| e.to_string())
        ),
        measured
            .rebuild_events_per_s
            .map_or("not measured".to_owned(), fmt),
        copy.map_or("-".to_owned(), |c| format!("{} COPY events/s", fmt(c))),
        match (measured.rebuild_events_per_s, copy) {
            (Some(v), Some(c)) => ratio(v, c),
            _ => "-".to_owned(),
        },
    ]);
    rows.push([
        "order ids/s (one generator)".to_owned(),
        measured.order_ids_per_s.map_or("-".to_owned(), fmt),
        "-".to_owned(),
        "-".to_owned(),
    ]);
    rows.push([
        "NATS JetStream publishes/s, pipelined (one at a time)".to_owned(),
        match (
            measured.nats_publish_per_s,
            measured.nats_publish_one_at_a_time_per_s,
        ) {
            (Some(p), Some(o)) => format!("{} ({})", fmt(p), fmt(o)),
            (Some(p), None) => fmt(p),
            _ => "not measured".to_owned(),
        },
        "-".to_owned(),
        "-".to_owned(),
    ]);
    rows.push([
        format!(
            "relay events/s, draining the log ({} events)",
            measured
                .relay_drained_events
                .map_or("-".to_owned(), |e| e.to_string())
        ),
        measured
            .relay_events_per_s
            .map_or("not measured".to_owned(), fmt),
        match measured.nats_publish_per_s {
            Some(n) => format!(
                "{} NATS publishes/s (target {RELAY_OVER_NATS_PUBLISH_TARGET}x)",
                fmt(n)
            ),
            None => "-".to_owned(),
        },
        measured
            .relay_over_nats_publish()
            .map_or("-".to_owned(), |r| format!("{r:.2}x")),
    ]);
    rows.push([
        "relay p99 ms from commit to JetStream ack, during place-pay".to_owned(),
        measured
            .relay_lag_p99_ms
            .map_or("not measured".to_owned(), |p| format!("{p:.1}")),
        format!("{RELAY_LAG_P99_TARGET_MS:.0} ms (target)"),
        "-".to_owned(),
    ]);
    let place_pay = reports.get("place-pay").map(|r| r.operations_per_s);
    rows.push([
        "place-pay orders/s beside the relay (p99 ms)".to_owned(),
        match (
            measured.place_pay_beside_relay_orders_per_s,
            measured.place_pay_beside_relay_p99_ms,
        ) {
            (Some(o), Some(p)) => format!("{} ({p:.1})", fmt(o)),
            (Some(o), None) => fmt(o),
            _ => "not measured".to_owned(),
        },
        place_pay.map_or("-".to_owned(), |p| {
            format!("{} place-pay orders/s without", fmt(p))
        }),
        match (measured.place_pay_beside_relay_orders_per_s, place_pay) {
            (Some(o), Some(p)) => ratio(o, p),
            _ => "-".to_owned(),
        },
    ]);
    rows.extend(crate::flash::figures::rows(reports));
    rows.extend(shard_rows(measured, reports));
    rows.push([
        "server peak RSS MB".to_owned(),
        measured
            .server_peak_rss_mb
            .map_or("-".to_owned(), |m| format!("{m:.0}")),
        "200 MB (target)".to_owned(),
        "-".to_owned(),
    ]);
    rows
}

/// The shard steps' rows: place-pay on two databases against one, and the move between them.
fn shard_rows(measured: &Measured, reports: &BTreeMap<String, Report>) -> Vec<[String; 4]> {
    let mut rows = Vec::new();
    if let (Some(one), Some(two)) = (reports.get(SHARD1), reports.get(SHARD2)) {
        rows.push([
            "place-pay orders/s on two shards (p99 ms)".to_owned(),
            format!("{:.0} ({:.1})", two.operations_per_s, two.p99_ms),
            format!(
                "{:.0} on one shard (target {SHARD2_OVER_SHARD1_TARGET}x)",
                one.operations_per_s
            ),
            shard2_over_shard1(reports).map_or("-".to_owned(), |r| format!("{r:.2}x")),
        ]);
    }
    if let Some(genes_per_s) = measured.reshard_genes_per_s {
        rows.push([
            format!(
                "orders reshard genes/s ({} genes, under place-pay)",
                measured
                    .reshard_genes
                    .map_or("-".to_owned(), |g| g.to_string())
            ),
            format!("{genes_per_s:.1}"),
            "-".to_owned(),
            "-".to_owned(),
        ]);
    }
    if let Some(during) = reports.get(RESHARD) {
        rows.push([
            "place-pay during the move: orders/s (p99 ms)".to_owned(),
            format!("{:.0} ({:.1})", during.operations_per_s, during.p99_ms),
            reports.get(SHARD1).map_or("-".to_owned(), |one| {
                format!("{:.0} ({:.1}) before it", one.operations_per_s, one.p99_ms)
            }),
            "-".to_owned(),
        ]);
    }
    rows
}

/// Reads every `*.json` scenario report in `dir`.
pub fn read_reports(dir: &Path) -> std::io::Result<BTreeMap<String, Report>> {
    let mut reports = BTreeMap::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "json") {
            let text = std::fs::read_to_string(&path)?;
            if let Ok(report) = serde_json::from_str::<Report>(&text) {
                reports.insert(report.scenario.clone(), report);
            }
        }
    }
    Ok(reports)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::stats::Samples;

    fn rows_have(rows: &[[String; 4]], figure: &str, value: &str) -> bool {
        rows.iter().any(|r| r[0] == figure && r[1] == value)
    }

    #[test]
    fn the_summary_has_every_tracked_key_and_ratios_use_the_same_runs_baseline() {
        let mut samples = Samples {
            operations: 5_000,
            ..Samples::default()
        };
        samples.route_request(crate::stats::route("GET", "/x"), Duration::from_millis(10));
        let mut reports = BTreeMap::new();
        reports.insert(
            "place-pay".to_owned(),
            Report::new("place-pay", 64, Duration::from_secs(1), samples.clone()),
        );
        let naive = Samples {
            operations: 50,
            ..Samples::default()
        };
        reports.insert(
            "hot-sku".to_owned(),
            Report::new("hot-sku", 64, Duration::from_secs(1), samples),
        );
        reports.insert(
            crate::naive::NAME.to_owned(),
            Report::new(crate::naive::NAME, 64, Duration::from_secs(1), naive),
        );
        let measured = Measured {
            clients: 64,
            baseline_insert_tx_per_s: 20_000.0,
            place_pay_drain_s: Some(1.25),
            nats_publish_per_s: Some(150_000.0),
            nats_publish_one_at_a_time_per_s: Some(40_000.0),
            relay_events_per_s: Some(60_000.0),
            relay_drained_events: Some(200_000),
            relay_lag_p99_ms: Some(12.34),
            place_pay_beside_relay_orders_per_s: Some(4_000.0),
            place_pay_beside_relay_p99_ms: Some(20.0),
            ..Measured::default()
        };
        let summary = summary(&measured, &reports);
        for key in [
            "baseline_insert_tx_per_s",
            "place_pay_orders_per_s",
            "place_pay_p99_ms",
            "place_pay_drain_s",
            "hot_sku_reservations_per_s",
            "naive_hot_aggregate_per_s",
            "hot_sku_oversold",
            "copy_events_per_s",
            "rebuild_events_per_s",
            "order_ids_per_s",
            "server_peak_rss_mb",
            "nats_publish_per_s",
            "nats_publish_one_at_a_time_per_s",
            "relay_events_per_s",
            "relay_over_nats_publish",
            "relay_lag_p99_ms",
            "place_pay_beside_relay_orders_per_s",
            "clients",
        ] {
            assert!(summary.get(key).is_some(), "{key}");
        }
        assert_eq!(summary["place_pay_orders_per_s"], 5_000.0);
        assert_eq!(summary["naive_hot_aggregate_per_s"], 50.0);
        assert_eq!(summary["place_pay_drain_s"], 1.25);
        assert_eq!(summary["nats_publish_per_s"], 150_000.0);
        assert_eq!(summary["relay_events_per_s"], 60_000.0);
        assert_eq!(summary["relay_over_nats_publish"], 0.4);
        assert_eq!(summary["relay_lag_p99_ms"], 12.34);
        assert_eq!(summary["place_pay_beside_relay_orders_per_s"], 4_000.0);
        let rows = table(&measured, &reports);
        assert!(rows.iter().any(
            |r| r[0] == "relay events/s, draining the log (200000 events)"
                && r[1] == "60000"
                && r[3] == "0.40x"
        ));
        assert!(rows_have(
            &rows,
            "relay p99 ms from commit to JetStream ack, during place-pay",
            "12.3"
        ));
        assert!(
            rows.iter()
                .any(|r| r[0] == "place-pay orders/s beside the relay (p99 ms)"
                    && r[1] == "4000 (20.0)"
                    && r[3] == "0.80x")
        );
        assert!(rows_have(
            &table(&measured, &reports),
            "NATS JetStream publishes/s, pipelined (one at a time)",
            "150000 (40000)"
        ));
        let without_nats = Measured {
            nats_publish_per_s: None,
            nats_publish_one_at_a_time_per_s: None,
            relay_events_per_s: None,
            relay_drained_events: None,
            relay_lag_p99_ms: None,
            place_pay_beside_relay_orders_per_s: None,
            place_pay_beside_relay_p99_ms: None,
            ..measured.clone()
        };
        let summary_without = super::summary(&without_nats, &reports);
        for key in [
            "nats_publish_per_s",
            "relay_events_per_s",
            "relay_over_nats_publish",
            "relay_lag_p99_ms",
            "place_pay_beside_relay_orders_per_s",
        ] {
            assert_eq!(summary_without[key], Value::Null, "{key}");
        }
        assert!(rows_have(
            &table(&without_nats, &reports),
            "relay p99 ms from commit to JetStream ack, during place-pay",
            "not measured"
        ));
        assert!(rows_have(
            &table(&without_nats, &reports),
            "NATS JetStream publishes/s, pipelined (one at a time)",
            "not measured"
        ));
        let rows = table(&measured, &reports);
        assert!(
            rows.iter()
                .any(|r| r[0] == "place-pay orders/s" && r[3] == "0.25x")
        );
        assert!(
            rows.iter()
                .any(|r| r[0] == "hot-sku reservations/s" && r[3] == "8.47x")
        );
        assert!(
            rows.iter()
                .any(|r| r[0].ends_with("against naive cqrs-es in this run") && r[3] == "100.00x")
        );
    }
    #[test]
    fn the_shard_steps_give_two_shards_over_one_and_the_move() {
        let with = |operations| Samples {
            operations,
            ..Samples::default()
        };
        let mut reports = BTreeMap::new();
        for (name, operations) in [(SHARD1, 1_000), (RESHARD, 800), (SHARD2, 950)] {
            reports.insert(
                name.to_owned(),
                Report::new(name, 64, Duration::from_secs(1), with(operations)),
            );
        }
        let measured = Measured {
            reshard_genes_per_s: Some(40.0),
            reshard_genes: Some(512),
            ..Measured::default()
        };
        let summary = summary(&measured, &reports);
        assert_eq!(summary["shard2_over_shard1"], 0.95);
        assert_eq!(summary["reshard_genes_per_s"], 40.0);
        assert_eq!(summary["reshard_place_pay_orders_per_s"], 800.0);
        let rows = table(&measured, &reports);
        assert!(
            rows.iter()
                .any(|r| r[0].starts_with("place-pay orders/s on two shards")
                    && r[2] == "1000 on one shard (target 0.9x)"
                    && r[3] == "0.95x")
        );
        assert!(rows.iter().any(
            |r| r[0] == "orders reshard genes/s (512 genes, under place-pay)" && r[1] == "40.0"
        ));
        assert!(summary_without_shards_is_null(&Measured::default()));
    }

    fn summary_without_shards_is_null(measured: &Measured) -> bool {
        let summary = summary(measured, &BTreeMap::new());
        [
            "shard2_over_shard1",
            "reshard_genes_per_s",
            "reshard_place_pay_p99_ms",
        ]
        .iter()
        .all(|key| summary[*key] == Value::Null)
    }
}
