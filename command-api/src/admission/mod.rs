//! Admission control in front of placement (DESIGN.md section 6, ADR 39): what a node lets
//! start, decided in memory before anything is read or written, so that a bot replaying
//! requests costs no write.
//!
//! In order, a placement must pass:
//! 1. the global limit: placements the node starts per second, all buyers together;
//! 2. the buyer's limit: per buyer, or per buyer and campaign for a campaign's placement
//!    (each with its own rate and burst: a flash sale's buyers get a tight one, an ordinary
//!    buyer a generous one that no person reaches);
//! 3. the queue: placements running at once on the node, bounded; one more is refused at
//!    once rather than waiting behind the others;
//! 4. the risk rules ([`risk`]), when configured.
//!
//! The first three refuse with 429 `too-many-requests` and `Retry-After` (seconds until the
//! limit lets the request through; 1 for a full queue), a risk rule with 429 `risk-refused`
//! naming the rule. Limits are GCRA rate limiters (governor): a steady rate with a burst,
//! kept per node; with N API nodes behind a balancer the fleet admits N times the global
//! rate. Every refusal is counted on `/metrics` by its reason.

pub mod risk;

use std::hash::Hash;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};
use prometheus::{IntCounterVec, Opts, Registry};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::Settings;
use crate::problem::{Problem, ProblemType};
use risk::{Placement, PlacementsPerMinute, RiskRefusal, RiskRules};

/// `Retry-After` of a placement refused for a full queue.
const QUEUE_FULL_RETRY_AFTER_SECS: u64 = 1;
/// Every this many admissions, the per-buyer limiters forget buyers idle long enough to be
/// as new, so their memory is bounded by the buyers active within a refill period.
const ADMISSIONS_PER_SWEEP: u64 = 10_000;

/// Why a placement was not admitted (the `reason` label of `admission_refused_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The node's global rate.
    Global,
    /// The buyer's rate outside campaigns.
    Buyer,
    /// The buyer's rate in one campaign.
    CampaignBuyer,
    /// The bound on placements running at once.
    Queue,
    /// A risk rule.
    Risk,
}

impl Refused {
    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            Self::Global => "global",
            Self::Buyer => "buyer",
            Self::CampaignBuyer => "campaign_buyer",
            Self::Queue => "queue",
            Self::Risk => "risk",
        }
    }
}

/// A rate and burst, as configured (a rate of 0: no limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Requests per second, refilled steadily.
    pub per_sec: u32,
    /// Requests at once above the rate (at least 1).
    pub burst: u32,
}

impl Rate {
    fn quota(self) -> Option<Quota> {
        let per_sec = NonZeroU32::new(self.per_sec)?;
        let burst = NonZeroU32::new(self.burst).unwrap_or(NonZeroU32::MIN);
        Some(Quota::per_second(per_sec).allow_burst(burst))
    }
}

/// What admission control is configured with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdmissionLimits {
    /// All placements of the node.
    pub global: Rate,
    /// One buyer's placements outside campaigns.
    pub buyer: Rate,
    /// One buyer's placements in one campaign.
    pub campaign_buyer: Rate,
    /// Placements running at once (0: no bound).
    pub queue_max: u32,
    /// The risk rule's placements per buyer and minute, when it is on.
    pub risk_placements_per_minute: Option<u32>,
}

impl AdmissionLimits {
    /// The limits `settings` configure.
    pub fn of(settings: &Settings) -> Self {
        Self {
            global: Rate {
                per_sec: settings.admission_global_per_sec,
                burst: settings.admission_global_burst,
            },
            buyer: Rate {
                per_sec: settings.admission_buyer_per_sec,
                burst: settings.admission_buyer_burst,
            },
            campaign_buyer: Rate {
                per_sec: settings.admission_campaign_buyer_per_sec,
                burst: settings.admission_campaign_buyer_burst,
            },
            queue_max: settings.admission_queue_max,
            risk_placements_per_minute: settings
                .risk_placements_rule
                .then_some(settings.risk_placements_per_minute),
        }
    }
}

/// A placement let through: it holds its place in the queue until dropped.
#[derive(Debug)]
pub struct Admitted {
    _slot: Option<OwnedSemaphorePermit>,
}

/// Admission control of one node (see the module's documentation).
pub struct Admission {
    global: Option<DefaultDirectRateLimiter>,
    buyers: Option<DefaultKeyedRateLimiter<String>>,
    campaign_buyers: Option<DefaultKeyedRateLimiter<(String, String)>>,
    queue: Option<Arc<Semaphore>>,
    risk: RiskRules,
    admissions: AtomicU64,
    refused: IntCounterVec,
}

impl std::fmt::Debug for Admission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admission")
            .field("risk", &self.risk)
            .finish_non_exhaustive()
    }
}

impl Admission {
    /// Admission control with `limits`, counting refusals on `registry`.
    pub fn new(limits: AdmissionLimits, registry: &Registry) -> Result<Self, prometheus::Error> {
        let refused = IntCounterVec::new(
            Opts::new(
                "admission_refused_total",
                "Placements refused by admission control, before any read or write, by reason",
            ),
            &["reason"],
        )?;
        registry.register(Box::new(refused.clone()))?;
        let queue_max = usize::try_from(limits.queue_max)
            .unwrap_or(usize::MAX)
            .min(Semaphore::MAX_PERMITS);
        let rules: Vec<Box<dyn risk::RiskRule>> = limits
            .risk_placements_per_minute
            .map(|n| Box::new(PlacementsPerMinute::new(n)) as Box<dyn risk::RiskRule>)
            .into_iter()
            .collect();
        Ok(Self {
            global: limits.global.quota().map(RateLimiter::direct),
            buyers: limits.buyer.quota().map(RateLimiter::keyed),
            campaign_buyers: limits.campaign_buyer.quota().map(RateLimiter::keyed),
            queue: (queue_max > 0).then(|| Arc::new(Semaphore::new(queue_max))),
            risk: RiskRules::new(rules),
            admissions: AtomicU64::new(0),
            refused,
        })
    }

    /// Lets `buyer`'s placement (in `campaign`, if any) start, or refuses it with its
    /// problem. The placement keeps its place in the queue while the answer is held.
    pub fn admit(&self, buyer: &str, campaign: Option<&str>) -> Result<Admitted, Problem> {
        self.check(buyer, campaign).map_err(|refusal| {
            let reason = refusal.reason();
            self.refused.with_label_values(&[reason.label()]).inc();
            tracing::debug!(
                buyer,
                reason = reason.label(),
                "placement refused by admission"
            );
            refusal.problem()
        })
    }

    fn check(&self, buyer: &str, campaign: Option<&str>) -> Result<Admitted, Refusal> {
        if self.admissions.fetch_add(1, Ordering::Relaxed) % ADMISSIONS_PER_SWEEP
            == ADMISSIONS_PER_SWEEP - 1
        {
            self.forget_idle();
        }
        if let Some(global) = &self.global {
            global
                .check()
                .map_err(|not_until| Refusal::Limit(Refused::Global, wait(&not_until)))?;
        }
        match campaign {
            None => limit_key(&self.buyers, &buyer.to_owned(), Refused::Buyer)?,
            Some(campaign) => limit_key(
                &self.campaign_buyers,
                &(buyer.to_owned(), campaign.to_owned()),
                Refused::CampaignBuyer,
            )?,
        }
        let slot = match &self.queue {
            None => None,
            Some(queue) => Some(Arc::clone(queue).try_acquire_owned().map_err(|_| {
                Refusal::Limit(
                    Refused::Queue,
                    Duration::from_secs(QUEUE_FULL_RETRY_AFTER_SECS),
                )
            })?),
        };
        self.risk
            .assess(&Placement { buyer, campaign })
            .map_err(Refusal::Risk)?;
        Ok(Admitted { _slot: slot })
    }

    fn forget_idle(&self) {
        if let Some(buyers) = &self.buyers {
            buyers.retain_recent();
            buyers.shrink_to_fit();
        }
        if let Some(campaign_buyers) = &self.campaign_buyers {
            campaign_buyers.retain_recent();
            campaign_buyers.shrink_to_fit();
        }
        self.risk.forget_idle();
    }
}

/// Checks `key` against `limiter`, if there is one.
fn limit_key<K: Hash + Eq + Clone>(
    limiter: &Option<DefaultKeyedRateLimiter<K>>,
    key: &K,
    reason: Refused,
) -> Result<(), Refusal> {
    match limiter {
        None => Ok(()),
        Some(limiter) => limiter
            .check_key(key)
            .map_err(|not_until| Refusal::Limit(reason, wait(&not_until))),
    }
}

/// A placement refused: by a limit, for how long, or by a risk rule.
enum Refusal {
    Limit(Refused, Duration),
    Risk(RiskRefusal),
}

impl Refusal {
    fn reason(&self) -> Refused {
        match self {
            Self::Limit(reason, _) => *reason,
            Self::Risk(_) => Refused::Risk,
        }
    }

    fn problem(self) -> Problem {
        match self {
            Self::Limit(reason, wait) => too_many(reason, wait),
            Self::Risk(refusal) => risk_refused(&refusal),
        }
    }
}

fn wait(not_until: &governor::NotUntil<<DefaultClock as Clock>::Instant>) -> Duration {
    not_until.wait_time_from(DefaultClock::default().now())
}

/// Whole seconds of `wait`, rounded up, at least 1: what `Retry-After` says.
fn retry_after_secs(wait: Duration) -> u64 {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    secs.max(1)
}

/// 429 `too-many-requests` for `reason`, with `Retry-After`.
fn too_many(reason: Refused, wait: Duration) -> Problem {
    let detail = match reason {
        Refused::Global => "the service is taking as many placements as it can",
        Refused::Queue => "the service is running as many placements as it can",
        Refused::Buyer | Refused::CampaignBuyer | Refused::Risk => {
            "this buyer is placing orders faster than allowed"
        }
    };
    Problem::new(ProblemType::TooManyRequests)
        .detail(format!("{detail}; retry after the time in Retry-After"))
        .retry_after(retry_after_secs(wait))
}

/// 429 `risk-refused`: a risk rule refused the placement.
fn risk_refused(refusal: &RiskRefusal) -> Problem {
    Problem::new(ProblemType::RiskRefused)
        .detail(format!("{}: {}", refusal.rule, refusal.detail))
        .retry_after(retry_after_secs(refusal.retry_after))
}

#[cfg(test)]
mod tests;
