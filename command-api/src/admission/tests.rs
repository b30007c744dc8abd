use super::*;

/// No limit anywhere: what each test then narrows.
const OPEN: AdmissionLimits = AdmissionLimits {
    global: Rate {
        per_sec: 0,
        burst: 0,
    },
    buyer: Rate {
        per_sec: 0,
        burst: 0,
    },
    campaign_buyer: Rate {
        per_sec: 0,
        burst: 0,
    },
    queue_max: 0,
    risk_placements_per_minute: None,
};

/// A burst of `burst`, then one more per second.
const fn burst_of(burst: u32) -> Rate {
    Rate { per_sec: 1, burst }
}

fn admission(limits: AdmissionLimits) -> (Admission, Registry) {
    let registry = Registry::new();
    let admission = Admission::new(limits, &registry).expect("the metrics register");
    (admission, registry)
}

fn refused(admission: &Admission, reason: Refused) -> u64 {
    admission.refused.with_label_values(&[reason.label()]).get()
}

fn problem_type(result: Result<Admitted, Problem>) -> Option<String> {
    result.err().map(|problem| problem.problem_type)
}

#[test]
fn a_buyer_beyond_their_burst_is_refused_429_with_retry_after_and_others_are_not() {
    let (admission, _) = admission(AdmissionLimits {
        buyer: burst_of(3),
        ..OPEN
    });
    let admitted: Vec<_> = (0..3)
        .map(|_| admission.admit("b-1", None).expect("within the burst"))
        .collect();
    let problem = admission
        .admit("b-1", None)
        .expect_err("the fourth is refused");
    assert_eq!(problem.status, 429);
    assert_eq!(problem.problem_type, "/problems/too-many-requests");
    assert_eq!(problem.retry_after_secs, Some(1));
    assert!(admission.admit("b-2", None).is_ok());
    assert_eq!(refused(&admission, Refused::Buyer), 1);
    drop(admitted);
}

#[test]
fn a_campaign_limits_each_buyer_in_it_apart_from_their_other_placements() {
    let (admission, _) = admission(AdmissionLimits {
        buyer: burst_of(100),
        campaign_buyer: burst_of(2),
        ..OPEN
    });
    for _ in 0..2 {
        assert!(admission.admit("b-1", Some("c-1")).is_ok());
    }
    assert_eq!(
        problem_type(admission.admit("b-1", Some("c-1"))).as_deref(),
        Some("/problems/too-many-requests")
    );
    assert!(admission.admit("b-1", Some("c-2")).is_ok());
    assert!(admission.admit("b-1", None).is_ok());
    assert!(admission.admit("b-2", Some("c-1")).is_ok());
    assert_eq!(refused(&admission, Refused::CampaignBuyer), 1);
}

#[test]
fn the_global_limit_holds_across_buyers() {
    let (admission, _) = admission(AdmissionLimits {
        global: burst_of(5),
        buyer: burst_of(100),
        ..OPEN
    });
    let admitted = (0..20)
        .filter(|i| admission.admit(&format!("b-{i}"), None).is_ok())
        .count();
    assert_eq!(admitted, 5);
    assert_eq!(refused(&admission, Refused::Global), 15);
}

#[test]
fn a_full_queue_refuses_at_once_until_a_placement_ends() {
    let (admission, _) = admission(AdmissionLimits {
        queue_max: 2,
        ..OPEN
    });
    let first = admission.admit("b-1", None).expect("a free slot");
    let _second = admission.admit("b-2", None).expect("a free slot");
    let problem = admission.admit("b-3", None).expect_err("the queue is full");
    assert_eq!(problem.status, 429);
    assert_eq!(problem.retry_after_secs, Some(QUEUE_FULL_RETRY_AFTER_SECS));
    drop(first);
    assert!(admission.admit("b-3", None).is_ok());
    assert_eq!(refused(&admission, Refused::Queue), 1);
}

#[test]
fn the_risk_rule_refuses_with_its_own_problem_when_on_and_never_when_off() {
    let (on, _) = admission(AdmissionLimits {
        risk_placements_per_minute: Some(2),
        ..OPEN
    });
    for _ in 0..2 {
        assert!(on.admit("b-1", None).is_ok());
    }
    let problem = on.admit("b-1", None).expect_err("the third in a minute");
    assert_eq!(problem.problem_type, "/problems/risk-refused");
    assert_eq!(problem.status, 429);
    assert!(
        problem
            .detail
            .as_deref()
            .is_some_and(|d| d.starts_with(PlacementsPerMinute::NAME)),
        "{problem:?}"
    );
    assert!(problem.retry_after_secs.is_some_and(|secs| secs > 1));
    assert_eq!(refused(&on, Refused::Risk), 1);

    let (off, _) = admission(OPEN);
    for _ in 0..100 {
        assert!(off.admit("b-1", None).is_ok());
    }
}

#[test]
fn a_refused_placement_is_not_counted_by_the_risk_rule() {
    let (admission, _) = admission(AdmissionLimits {
        buyer: burst_of(1),
        risk_placements_per_minute: Some(1),
        ..OPEN
    });
    assert!(admission.admit("b-1", None).is_ok());
    for _ in 0..5 {
        assert_eq!(
            problem_type(admission.admit("b-1", None)).as_deref(),
            Some("/problems/too-many-requests")
        );
    }
    assert_eq!(refused(&admission, Refused::Risk), 0);
}

#[test]
fn retry_after_is_whole_seconds_rounded_up_and_at_least_one() {
    assert_eq!(retry_after_secs(Duration::ZERO), 1);
    assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
    assert_eq!(retry_after_secs(Duration::from_millis(1_001)), 2);
    assert_eq!(retry_after_secs(Duration::from_secs(20)), 20);
}

#[test]
fn the_defaults_never_refuse_a_benchmark_client() {
    // place-pay's clients are one buyer each, placing one order after another
    let (admission, _) = admission(AdmissionLimits::of(&Settings::default()));
    let held: Vec<_> = (0..500)
        .map(|_| admission.admit("bench-b0", None).expect("admitted"))
        .collect();
    assert_eq!(held.len(), 500);
}
