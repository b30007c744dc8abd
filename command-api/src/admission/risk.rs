//! The risk rule hook: rules that look at a placement admission control let through and may
//! refuse it, each with its own problem (`risk-refused`, naming the rule). One rule exists,
//! on by configuration: more than N placements by one buyer in a minute.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// A placement as the rules see it.
#[derive(Debug, Clone, Copy)]
pub struct Placement<'a> {
    /// The buyer placing it.
    pub buyer: &'a str,
    /// The campaign it orders from, if any.
    pub campaign: Option<&'a str>,
}

/// A rule's refusal of a placement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RiskRefusal {
    /// The rule's stable name (in the problem's detail and the metrics).
    pub rule: &'static str,
    /// What the buyer did, in words.
    pub detail: String,
    /// When the rule would let the buyer place again.
    pub retry_after: Duration,
}

/// A rule that may refuse a placement. Rules run on the request's task, so they answer from
/// memory, at once.
pub trait RiskRule: Send + Sync {
    /// Refuses `placement`, or lets it pass (and counts it, if the rule counts).
    fn assess(&self, placement: &Placement<'_>) -> Result<(), RiskRefusal>;

    /// Forgets what no longer matters (buyers idle for longer than the rule looks back).
    fn forget_idle(&self) {}
}

/// More than `per_minute` placements by one buyer within a minute are refused. Counted per
/// node, on a sliding window (GCRA): a buyer may place `per_minute` at once, then one more
/// each `60 / per_minute` seconds.
pub struct PlacementsPerMinute {
    per_minute: NonZeroU32,
    buyers: DefaultKeyedRateLimiter<String>,
}

impl PlacementsPerMinute {
    /// The rule's name.
    pub const NAME: &'static str = "placements-per-minute";

    /// The rule allowing `per_minute` placements per buyer and minute (at least 1).
    pub fn new(per_minute: u32) -> Self {
        let per_minute = NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN);
        Self {
            per_minute,
            buyers: RateLimiter::keyed(Quota::per_minute(per_minute)),
        }
    }
}

impl RiskRule for PlacementsPerMinute {
    fn assess(&self, placement: &Placement<'_>) -> Result<(), RiskRefusal> {
        // the key is the buyer's, which the limiter owns: one allocation per placement
        self.buyers
            .check_key(&placement.buyer.to_owned())
            .map_err(|not_until| RiskRefusal {
                rule: Self::NAME,
                detail: format!(
                    "more than {} placements by one buyer within a minute",
                    self.per_minute
                ),
                retry_after: not_until.wait_time_from(DefaultClock::default().now()),
            })
    }

    fn forget_idle(&self) {
        self.buyers.retain_recent();
        self.buyers.shrink_to_fit();
    }
}

/// The rules in force, assessed in order; the first refusal stands.
#[derive(Default)]
pub struct RiskRules {
    rules: Vec<Box<dyn RiskRule>>,
}

impl std::fmt::Debug for RiskRules {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RiskRules")
            .field("rules", &self.rules.len())
            .finish()
    }
}

impl RiskRules {
    /// `rules`, assessed in order.
    pub fn new(rules: Vec<Box<dyn RiskRule>>) -> Self {
        Self { rules }
    }

    /// The first refusal of `placement` by a rule, if any.
    pub fn assess(&self, placement: &Placement<'_>) -> Result<(), RiskRefusal> {
        self.rules
            .iter()
            .try_for_each(|rule| rule.assess(placement))
    }

    /// Lets every rule forget what no longer matters.
    pub fn forget_idle(&self) {
        self.rules.iter().for_each(|rule| rule.forget_idle());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn by(buyer: &str) -> Placement<'_> {
        Placement {
            buyer,
            campaign: None,
        }
    }

    #[test]
    fn placements_beyond_n_in_a_minute_are_refused_per_buyer() {
        let rules = RiskRules::new(vec![Box::new(PlacementsPerMinute::new(3))]);
        for _ in 0..3 {
            assert_eq!(rules.assess(&by("b-1")), Ok(()));
        }
        let refusal = rules.assess(&by("b-1")).expect_err("the fourth is refused");
        assert_eq!(refusal.rule, PlacementsPerMinute::NAME);
        assert!(
            refusal.detail.contains("more than 3 placements"),
            "{refusal:?}"
        );
        // one more is allowed every 20 s: the wait is up to that
        assert!(
            refusal.retry_after > Duration::from_secs(15)
                && refusal.retry_after <= Duration::from_secs(20),
            "{refusal:?}"
        );
        assert_eq!(rules.assess(&by("b-2")), Ok(()));
    }

    #[test]
    fn no_rules_refuse_nothing() {
        let rules = RiskRules::default();
        for _ in 0..1_000 {
            assert_eq!(rules.assess(&by("b-1")), Ok(()));
        }
    }
}
