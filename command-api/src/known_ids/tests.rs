use super::*;

/// The share of `probes` made-up order ids that `known` answers as maybe present.
fn measured_false_positive_rate(known: &KnownIds, probes: u32) -> f64 {
    let hits = (0..probes)
        .filter(|i| known.may_exist(ORDER, &format!("made-up-{i}")))
        .count();
    hits as f64 / f64::from(probes)
}

fn filled(rate: f64, expected: u64, ids: u32) -> KnownIds {
    let known = KnownIds::new(rate, expected).expect("a valid rate");
    for i in 0..ids {
        known.insert(ORDER, &i.to_string());
    }
    known
}

#[test]
fn every_id_put_in_is_answered_as_maybe_present() {
    let known = filled(0.01, 50_000, 50_000);
    let missing = (0..50_000_u32)
        .filter(|i| !known.may_exist(ORDER, &i.to_string()))
        .count();
    assert_eq!(missing, 0);
}

/// The rate measured over 200,000 made-up ids, the filter holding the ids it was sized for,
/// is within a third of the configured one (at 1%, 2,000 hits expected: the sampling error is
/// about 2%).
#[test]
fn the_measured_false_positive_rate_is_near_the_configured_one() {
    for rate in [0.01, 0.001] {
        let known = filled(rate, 100_000, 100_000);
        let measured = measured_false_positive_rate(&known, 200_000);
        assert!(
            measured > rate * 2.0 / 3.0 && measured < rate * 4.0 / 3.0,
            "configured {rate}, measured {measured}"
        );
        assert_eq!(known.stage_count(), 1);
    }
}

/// Eight times the expected ids: the chain grows (1 + 2 + 4 stages' worth, then a fourth),
/// keeps every id, and its rate stays under twice the configured one.
#[test]
fn past_its_expected_items_the_filter_grows_and_its_rate_stays_under_twice_the_configured() {
    let rate = 0.01;
    let known = filled(rate, 10_000, 80_000);
    assert!(known.stage_count() >= 4, "{} stages", known.stage_count());
    let missing = (0..80_000_u32)
        .filter(|i| !known.may_exist(ORDER, &i.to_string()))
        .count();
    assert_eq!(missing, 0);
    let measured = measured_false_positive_rate(&known, 200_000);
    assert!(measured < 2.0 * rate, "measured {measured}");
}

#[test]
fn ids_are_keyed_on_their_aggregate_type() {
    let known = KnownIds::new(1e-9, 1_000).expect("a valid rate");
    known.insert(ORDER, "42");
    assert!(known.may_exist(ORDER, "42"));
    assert!(!known.may_exist(SKU, "42"));
}

#[test]
fn untracked_types_are_neither_kept_nor_ever_answered_absent() {
    let known = KnownIds::new(1e-9, 1_000).expect("a valid rate");
    known.insert("Cart", "b-1");
    assert!(known.may_exist("Cart", "never-put-in"));
    assert_eq!(known.read()[0].items.load(Ordering::Relaxed), 0);
}

#[test]
fn an_id_seen_again_fills_no_stage() {
    let known = KnownIds::new(0.01, 1_024).expect("a valid rate");
    for _ in 0..5_000 {
        known.insert(ORDER, "42");
    }
    assert_eq!(known.stage_count(), 1);
}

#[test]
fn a_rate_outside_zero_and_one_is_refused() {
    for rate in [0.0, 1.0, -0.5, 2.0, f64::NAN] {
        assert!(
            matches!(KnownIds::new(rate, 1_000), Err(KnownIdsError::Rate(_))),
            "{rate}"
        );
    }
}

#[test]
fn reads_saved_are_counted_by_aggregate_type() {
    let registry = Registry::new();
    let known = KnownIds::with_metrics(1e-9, 1_000, &registry).expect("the filter");
    known.insert(SKU, "tea");
    assert!(known.may_exist(SKU, "tea"));
    assert!(!known.may_exist(SKU, "made-up"));
    assert!(!known.may_exist(ORDER, "7"));
    assert!(!known.may_exist(ORDER, "8"));
    let saved = |kind: &str| {
        known
            .metrics
            .as_ref()
            .map(|m| m.reads_saved.with_label_values(&[kind]).get())
    };
    assert_eq!(saved(SKU), Some(1));
    assert_eq!(saved(ORDER), Some(2));
}
