//! What a flash sale's answers add up to: each placement answer classified, and the run's
//! verdict (reservations, oversold, over the limit) counted from the order ids the server
//! answered 201 for, each id once.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Instant;

use crate::client::Answer;

/// What one placement answer says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// 201: a new order, with its id.
    Placed(String),
    /// 200: the order this id already names (a replay).
    Again,
    /// 409 `campaign-sold-out`.
    SoldOut,
    /// 409 `campaign-limit-reached`.
    LimitReached,
    /// 429: admission control asks to come back later.
    Throttled,
    /// Another refusal the contract names (403 `risk-refused`, another 409), by status.
    Refused(u16),
    /// Anything else, by status.
    Failed(u16),
}

impl Outcome {
    /// Classifies a placement's answer by its status and problem type.
    pub fn of(answer: &Answer) -> Self {
        #[derive(Default, serde::Deserialize)]
        struct OrderId {
            order_id: String,
        }
        match answer.status {
            201 => Self::Placed(answer.json::<OrderId>().order_id),
            200 => Self::Again,
            409 => {
                let problem = answer.problem_type();
                if problem.ends_with("/campaign-sold-out") {
                    Self::SoldOut
                } else if problem.ends_with("/campaign-limit-reached") {
                    Self::LimitReached
                } else {
                    Self::Refused(409)
                }
            }
            429 => Self::Throttled,
            403 => Self::Refused(403),
            status => Self::Failed(status),
        }
    }

    /// The key it is counted under.
    fn key(&self) -> &'static str {
        match self {
            Self::Placed(_) => "201",
            Self::Again => "200",
            Self::SoldOut => "sold_out",
            Self::LimitReached => "limit_reached",
            Self::Throttled => "throttled",
            Self::Refused(_) => "refused",
            Self::Failed(_) => "failed",
        }
    }
}

/// The answers of one client (merged at the end of a run).
#[derive(Debug, Default, Clone)]
pub struct Tally {
    /// Every 201: the buyer's index and the order id.
    pub placed: Vec<(usize, String)>,
    /// Answers to a buyer's first request of an order (after any 429 retries), by kind.
    pub first: BTreeMap<&'static str, u64>,
    /// Answers to replays of the same request, by kind.
    pub replays: BTreeMap<&'static str, u64>,
    /// When the last 201 came.
    pub last_placed_at: Option<Instant>,
}

impl Tally {
    /// Counts a placement's outcome for `buyer`: a first request, or a replay.
    pub fn count(&mut self, buyer: usize, outcome: &Outcome, replay: bool) {
        let counts = if replay {
            &mut self.replays
        } else {
            &mut self.first
        };
        *counts.entry(outcome.key()).or_default() += 1;
        if let Outcome::Placed(order_id) = outcome {
            self.placed.push((buyer, order_id.clone()));
            self.last_placed_at = Some(Instant::now());
        }
    }

    /// Adds another client's tally.
    pub fn merge(&mut self, other: Tally) {
        self.placed.extend(other.placed);
        for (key, n) in other.first {
            *self.first.entry(key).or_default() += n;
        }
        for (key, n) in other.replays {
            *self.replays.entry(key).or_default() += n;
        }
        self.last_placed_at = self.last_placed_at.max(other.last_placed_at);
    }
}

/// The run's verdict, from the client side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    /// Distinct order ids answered 201.
    pub reservations: u64,
    /// Reservations beyond the campaign's stock.
    pub oversold: u64,
    /// Buyers with more distinct orders than the limit.
    pub over_limit: u64,
}

impl Verdict {
    /// Counts `placed` (buyer, order id) against a campaign of `stock` units and `limit`
    /// orders per buyer (one unit each).
    pub fn of(placed: &[(usize, String)], stock: u64, limit: u64) -> Self {
        let mut ids: HashSet<&str> = HashSet::with_capacity(placed.len());
        let mut by_buyer: HashMap<usize, HashSet<&str>> = HashMap::new();
        for (buyer, id) in placed {
            ids.insert(id);
            by_buyer.entry(*buyer).or_default().insert(id);
        }
        let reservations = ids.len() as u64;
        Self {
            reservations,
            oversold: reservations.saturating_sub(stock),
            over_limit: by_buyer
                .values()
                .filter(|orders| orders.len() as u64 > limit)
                .count() as u64,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn answer(status: u16, body: &str) -> Answer {
        Answer {
            status,
            body: bytes::Bytes::copy_from_slice(body.as_bytes()),
            took: Duration::from_millis(1),
            retry_after_secs: None,
        }
    }

    #[test]
    fn answers_are_told_apart_by_status_and_problem_type() {
        let sold_out = r#"{"type":"/problems/campaign-sold-out","status":409}"#;
        let limit = r#"{"type":"/problems/campaign-limit-reached","status":409}"#;
        let other = r#"{"type":"/problems/version-mismatch","status":409}"#;
        assert_eq!(
            Outcome::of(&answer(201, r#"{"order_id":"42"}"#)),
            Outcome::Placed("42".to_owned())
        );
        assert_eq!(Outcome::of(&answer(200, "{}")), Outcome::Again);
        assert_eq!(Outcome::of(&answer(409, sold_out)), Outcome::SoldOut);
        assert_eq!(Outcome::of(&answer(409, limit)), Outcome::LimitReached);
        assert_eq!(Outcome::of(&answer(409, other)), Outcome::Refused(409));
        assert_eq!(Outcome::of(&answer(429, "")), Outcome::Throttled);
        assert_eq!(Outcome::of(&answer(500, "")), Outcome::Failed(500));
    }

    #[test]
    fn an_order_id_counts_once_and_a_second_order_of_a_buyer_is_over_the_limit() {
        let placed: Vec<(usize, String)> = [(1, "a"), (1, "a"), (2, "b"), (3, "c"), (3, "d")]
            .iter()
            .map(|(buyer, id)| (*buyer, (*id).to_owned()))
            .collect();
        assert_eq!(
            Verdict::of(&placed, 3, 1),
            Verdict {
                reservations: 4,
                oversold: 1,
                over_limit: 1
            }
        );
        assert_eq!(
            Verdict::of(&placed, 10, 2),
            Verdict {
                reservations: 4,
                oversold: 0,
                over_limit: 0
            }
        );
    }

    #[test]
    fn tallies_merge_their_counts_and_keep_the_last_placement() {
        let mut one = Tally::default();
        one.count(1, &Outcome::Placed("a".to_owned()), false);
        one.count(1, &Outcome::Again, true);
        let mut two = Tally::default();
        two.count(2, &Outcome::SoldOut, false);
        two.count(2, &Outcome::SoldOut, true);
        two.count(3, &Outcome::Placed("b".to_owned()), false);
        let last = two.last_placed_at;
        one.merge(two);
        assert_eq!(one.placed.len(), 2);
        assert_eq!(one.first["201"], 2);
        assert_eq!(one.first["sold_out"], 1);
        assert_eq!(one.replays["200"], 1);
        assert_eq!(one.replays["sold_out"], 1);
        assert_eq!(one.last_placed_at, last);
    }
}
