//! The flash sale's keys in `summary.json` and its rows in the benchmark table: the platform's
//! figures beside its two peers' from the same run.

use std::collections::BTreeMap;

use crate::stats::Report;

/// The report of the flash sale against the order platform.
pub const OURS: &str = "flash-sale";
/// The report of the flash sale against the Redis peer.
pub const REDIS_PEER: &str = "redis-peer-flash-sale";
/// The report of the flash sale against the CRUD peer.
pub const CRUD_PEER: &str = "crud-peer-flash-sale";
/// The report of place-pay against the CRUD peer.
pub const CRUD_PEER_PLACE_PAY: &str = "crud-peer-place-pay";

/// The flash sale's reservations/s must reach this share of the Redis peer's.
const OVER_REDIS_PEER_TARGET: f64 = 0.5;
/// ... and this multiple of the CRUD peer's.
const OVER_CRUD_PEER_TARGET: f64 = 3.0;
/// place-pay's orders/s must reach this multiple of the CRUD peer's.
const PLACE_PAY_OVER_CRUD_PEER_TARGET: f64 = 1.25;
/// The flash sale's p99 per placement must stay under this.
const P99_TARGET_MS: f64 = 50.0;

fn extra(reports: &BTreeMap<String, Report>, name: &str, key: &str) -> Option<f64> {
    reports.get(name).and_then(|r| r.extra.get(key).copied())
}

fn reservations_per_s(reports: &BTreeMap<String, Report>, name: &str) -> Option<f64> {
    extra(reports, name, "reservations_per_s")
}

fn place_pay_per_s(reports: &BTreeMap<String, Report>, name: &str) -> Option<f64> {
    reports.get(name).map(|r| r.operations_per_s)
}

fn over(value: Option<f64>, baseline: Option<f64>) -> Option<f64> {
    match (value, baseline) {
        (Some(v), Some(b)) if b > 0.0 => Some(v / b),
        _ => None,
    }
}

/// The keys of `summary.json` (null where not measured).
pub fn keys(reports: &BTreeMap<String, Report>) -> Vec<(&'static str, Option<f64>)> {
    let ours = reservations_per_s(reports, OURS);
    let redis = reservations_per_s(reports, REDIS_PEER);
    let crud = reservations_per_s(reports, CRUD_PEER);
    let crud_place_pay = place_pay_per_s(reports, CRUD_PEER_PLACE_PAY);
    vec![
        ("flash_sale_reservations_per_s", ours),
        ("flash_sale_oversold", extra(reports, OURS, "oversold")),
        ("flash_sale_over_limit", extra(reports, OURS, "over_limit")),
        (
            "flash_sale_p99_ms",
            extra(reports, OURS, "placement_p99_ms"),
        ),
        ("redis_peer_reservations_per_s", redis),
        ("crud_peer_reservations_per_s", crud),
        ("crud_peer_place_pay_orders_per_s", crud_place_pay),
        ("flash_sale_over_redis_peer", over(ours, redis)),
        ("flash_sale_over_crud_peer", over(ours, crud)),
        (
            "place_pay_over_crud_peer",
            over(place_pay_per_s(reports, "place-pay"), crud_place_pay),
        ),
    ]
}

/// The table rows: (figure, value, baseline, ratio).
pub fn rows(reports: &BTreeMap<String, Report>) -> Vec<[String; 4]> {
    let fmt = |v: Option<f64>| v.map_or("not measured".to_owned(), |v| format!("{v:.0}"));
    let ratio = |v: Option<f64>| v.map_or("-".to_owned(), |r| format!("{r:.2}x"));
    let ours = reservations_per_s(reports, OURS);
    let redis = reservations_per_s(reports, REDIS_PEER);
    let crud = reservations_per_s(reports, CRUD_PEER);
    let place_pay = place_pay_per_s(reports, "place-pay");
    let crud_place_pay = place_pay_per_s(reports, CRUD_PEER_PLACE_PAY);
    let verdict = |name: &str| match (
        extra(reports, name, "oversold"),
        extra(reports, name, "over_limit"),
    ) {
        (Some(oversold), Some(over_limit)) => format!("{oversold} / {over_limit}"),
        _ => "-".to_owned(),
    };
    vec![
        [
            "flash-sale reservations/s".to_owned(),
            fmt(ours),
            format!(
                "{} Redis peer reservations/s (target {OVER_REDIS_PEER_TARGET}x)",
                fmt(redis)
            ),
            ratio(over(ours, redis)),
        ],
        [
            "flash-sale reservations/s against the CRUD peer".to_owned(),
            fmt(ours),
            format!(
                "{} CRUD peer reservations/s (target {OVER_CRUD_PEER_TARGET}x)",
                fmt(crud)
            ),
            ratio(over(ours, crud)),
        ],
        [
            "flash-sale p99 ms per placement".to_owned(),
            extra(reports, OURS, "placement_p99_ms")
                .map_or("not measured".to_owned(), |p| format!("{p:.1}")),
            format!("{P99_TARGET_MS:.0} ms (target)"),
            "-".to_owned(),
        ],
        [
            "flash-sale oversold / over the limit (ours; Redis peer; CRUD peer)".to_owned(),
            format!(
                "{}; {}; {}",
                verdict(OURS),
                verdict(REDIS_PEER),
                verdict(CRUD_PEER)
            ),
            "0 / 0 (target)".to_owned(),
            "-".to_owned(),
        ],
        [
            "place-pay orders/s against the CRUD peer".to_owned(),
            fmt(place_pay),
            format!(
                "{} CRUD peer place-pay orders/s (target {PLACE_PAY_OVER_CRUD_PEER_TARGET}x)",
                fmt(crud_place_pay)
            ),
            ratio(over(place_pay, crud_place_pay)),
        ],
    ]
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::stats::Samples;

    fn flash(name: &str, per_s: f64, oversold: f64) -> (String, Report) {
        let mut report = Report::new(name, 64, Duration::from_secs(1), Samples::default());
        for (key, value) in [
            ("reservations_per_s", per_s),
            ("oversold", oversold),
            ("over_limit", 0.0),
            ("placement_p99_ms", 12.5),
        ] {
            report.extra.insert(key.to_owned(), value);
        }
        (name.to_owned(), report)
    }

    fn place_pay(name: &str, orders: u64) -> (String, Report) {
        let samples = Samples {
            operations: orders,
            ..Samples::default()
        };
        let report = Report::new(name, 64, Duration::from_secs(1), samples);
        (name.to_owned(), report)
    }

    #[test]
    fn the_flash_sale_stands_beside_both_peers_of_the_same_run() {
        let reports: BTreeMap<String, Report> = [
            flash(OURS, 3_000.0, 0.0),
            flash(REDIS_PEER, 12_000.0, 0.0),
            flash(CRUD_PEER, 600.0, 2.0),
            place_pay("place-pay", 2_500),
            place_pay(CRUD_PEER_PLACE_PAY, 1_000),
        ]
        .into_iter()
        .collect();
        let keys: BTreeMap<_, _> = keys(&reports).into_iter().collect();
        assert_eq!(keys["flash_sale_reservations_per_s"], Some(3_000.0));
        assert_eq!(keys["flash_sale_oversold"], Some(0.0));
        assert_eq!(keys["flash_sale_over_limit"], Some(0.0));
        assert_eq!(keys["flash_sale_p99_ms"], Some(12.5));
        assert_eq!(keys["redis_peer_reservations_per_s"], Some(12_000.0));
        assert_eq!(keys["crud_peer_reservations_per_s"], Some(600.0));
        assert_eq!(keys["crud_peer_place_pay_orders_per_s"], Some(1_000.0));
        assert_eq!(keys["flash_sale_over_redis_peer"], Some(0.25));
        assert_eq!(keys["flash_sale_over_crud_peer"], Some(5.0));
        assert_eq!(keys["place_pay_over_crud_peer"], Some(2.5));
        let rows = rows(&reports);
        assert_eq!(rows[0][3], "0.25x");
        assert_eq!(rows[1][3], "5.00x");
        assert_eq!(rows[3][1], "0 / 0; 0 / 0; 2 / 0");
        assert_eq!(rows[4][3], "2.50x");
    }

    #[test]
    fn without_a_flash_sale_of_ours_its_figures_are_null_not_zero() {
        let reports: BTreeMap<String, Report> =
            [flash(REDIS_PEER, 12_000.0, 0.0)].into_iter().collect();
        let keys: BTreeMap<_, _> = keys(&reports).into_iter().collect();
        assert_eq!(keys["flash_sale_reservations_per_s"], None);
        assert_eq!(keys["flash_sale_oversold"], None);
        assert_eq!(keys["flash_sale_over_redis_peer"], None);
        assert_eq!(keys["redis_peer_reservations_per_s"], Some(12_000.0));
        let rows = rows(&reports);
        assert_eq!(rows[0][1], "not measured");
        assert_eq!(rows[0][3], "-");
    }
}
