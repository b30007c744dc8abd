//! The checks: the ledger against what the log and the views hold.
//!
//! Pure: [`Observed`] is read from the database by [`crate::database`], and [`check`] says
//! what is wrong with it, so a test can feed it any history.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use chrono::{DateTime, TimeDelta, Utc};

use crate::ledger::Entries;

/// One order's events, as far as the checks care.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogOrder {
    /// `OrderPlaced` events: exactly one for a placed order.
    pub placed: u32,
    /// When its payment is due (from `OrderPlaced`).
    pub payment_due_at: Option<DateTime<Utc>>,
    /// Transaction ids of its `PaymentConfirmed` events.
    pub confirmed: Vec<String>,
    /// Transaction ids of its `PaidAfterClose` events (recorded, to be refunded).
    pub paid_after_close: Vec<String>,
    /// When each `OrderCancelled` with reason `PaymentTimeout` happened: its deadline firing.
    pub timeouts: Vec<DateTime<Utc>>,
}

/// What the database holds after the run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observed {
    /// Every order stream of the log, by order id.
    pub log: BTreeMap<String, LogOrder>,
    /// Order ids in the order views (detail or archive).
    pub in_view: BTreeSet<String>,
    /// Fired deadlines as `(due, fired)` in Unix milliseconds, from `payment_deadlines`.
    pub fired_deadlines: Vec<(i64, i64)>,
}

impl Observed {
    /// The latest a deadline due within `due_from..due_to` (Unix ms) fired after it was due.
    pub fn lateness_max_ms(&self, due_from: i64, due_to: i64) -> i64 {
        self.fired_deadlines
            .iter()
            .filter(|(due, _)| (due_from..due_to).contains(due))
            .map(|(due, fired)| fired - due)
            .max()
            .unwrap_or_default()
    }
}

/// What is wrong, each a list of sentences naming the order or transaction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Findings {
    /// Acknowledged orders or payments the log does not hold.
    pub lost: Vec<String>,
    /// Acknowledged orders the log holds but the views do not (after the drain).
    pub lost_in_view: Vec<String>,
    /// An order placed twice, a transaction recorded twice.
    pub doubled: Vec<String>,
    /// Unpaid orders past their deadline (and the settling time) that were not cancelled.
    pub unfired: Vec<String>,
    /// Deadlines fired more than once, before their time, or on a paid order.
    pub misfired: Vec<String>,
}

impl Findings {
    /// No violation at all.
    pub fn is_clean(&self) -> bool {
        self.lost.is_empty()
            && self.lost_in_view.is_empty()
            && self.doubled.is_empty()
            && self.unfired.is_empty()
            && self.misfired.is_empty()
    }

    /// Every finding, one per line, at most `limit` of each kind.
    pub fn describe(&self, limit: usize) -> String {
        let mut out = String::new();
        for (kind, list) in [
            ("lost", &self.lost),
            ("lost in view", &self.lost_in_view),
            ("doubled", &self.doubled),
            ("deadline unfired", &self.unfired),
            ("deadline misfired", &self.misfired),
        ] {
            for line in list.iter().take(limit) {
                out.push_str(&format!("  {kind}: {line}\n"));
            }
            if list.len() > limit {
                out.push_str(&format!("  {kind}: ... and {} more\n", list.len() - limit));
            }
        }
        out
    }
}

impl fmt::Display for Findings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "lost {}, lost in view {}, doubled {}, deadlines unfired {}, misfired {}",
            self.lost.len(),
            self.lost_in_view.len(),
            self.doubled.len(),
            self.unfired.len(),
            self.misfired.len()
        )
    }
}

/// Checks the acknowledged `entries` against `observed` at `now`. A deadline counts as
/// unfired only once `settle` has passed since it was due, so that a check run while the
/// timer is catching up is not a violation; doubles and losses count at once.
pub fn check(
    entries: &Entries,
    observed: &Observed,
    now: DateTime<Utc>,
    settle: TimeDelta,
) -> Findings {
    let mut findings = Findings::default();
    for order in &entries.orders {
        match observed.log.get(&order.order_id) {
            Some(log) if log.placed > 0 => {
                if !observed.in_view.contains(&order.order_id) {
                    findings.lost_in_view.push(format!(
                        "order {} is in the log, not in the views",
                        order.order_id
                    ));
                }
            }
            _ => findings.lost.push(format!(
                "order {} (buyer {}) was acknowledged, the log has no OrderPlaced",
                order.order_id, order.buyer
            )),
        }
    }
    for payment in &entries.payments {
        let recorded = observed.log.get(&payment.order_id).is_some_and(|log| {
            log.confirmed.contains(&payment.txn_id)
                || log.paid_after_close.contains(&payment.txn_id)
        });
        if !recorded {
            findings.lost.push(format!(
                "payment {} of order {} ({} cents) was acknowledged, the log has no payment event for it",
                payment.txn_id, payment.order_id, payment.amount_cents
            ));
        }
    }
    let mut txns: BTreeMap<&str, u32> = BTreeMap::new();
    for (order_id, log) in &observed.log {
        if log.placed > 1 {
            findings.doubled.push(format!(
                "order {order_id} has {} OrderPlaced events",
                log.placed
            ));
        }
        for txn in log.confirmed.iter().chain(&log.paid_after_close) {
            *txns.entry(txn).or_default() += 1;
        }
        if log.confirmed.len() > 1 {
            findings.doubled.push(format!(
                "order {order_id} has {} PaymentConfirmed events",
                log.confirmed.len()
            ));
        }
        check_deadline(order_id, log, now, settle, &mut findings);
    }
    for (txn, count) in txns {
        if count > 1 {
            findings
                .doubled
                .push(format!("transaction {txn} is recorded {count} times"));
        }
    }
    findings
}

fn check_deadline(
    order_id: &str,
    log: &LogOrder,
    now: DateTime<Utc>,
    settle: TimeDelta,
    findings: &mut Findings,
) {
    let Some(due) = log.payment_due_at else {
        return;
    };
    if log.timeouts.len() > 1 {
        findings.misfired.push(format!(
            "order {order_id}: its deadline fired {} times",
            log.timeouts.len()
        ));
    }
    if let Some(early) = log.timeouts.iter().find(|at| **at < due) {
        findings.misfired.push(format!(
            "order {order_id}: its deadline fired at {early}, before it was due at {due}"
        ));
    }
    if !log.confirmed.is_empty() && !log.timeouts.is_empty() {
        findings.misfired.push(format!(
            "order {order_id}: paid ({}) and cancelled by its deadline",
            log.confirmed.join(", ")
        ));
    }
    if log.confirmed.is_empty() && log.timeouts.is_empty() && due + settle < now {
        findings.unfired.push(format!(
            "order {order_id}: unpaid, due at {due}, not cancelled by {now}"
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::{AckedPayment, PlacedOrder};

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap_or_default()
    }

    fn order(id: &str) -> PlacedOrder {
        PlacedOrder {
            order_id: id.into(),
            buyer: "b1".into(),
            items: vec![("sku-1".into(), 1)],
            total_cents: 500,
        }
    }

    fn payment(id: &str, txn: &str) -> AckedPayment {
        AckedPayment {
            order_id: id.into(),
            txn_id: txn.into(),
            amount_cents: 500,
        }
    }

    fn placed(due: i64) -> LogOrder {
        LogOrder {
            placed: 1,
            payment_due_at: Some(at(due)),
            ..LogOrder::default()
        }
    }

    /// Order 1 paid with T1, order 2 left unpaid and cancelled at its deadline.
    fn clean_history() -> (Entries, Observed) {
        let entries = Entries {
            orders: vec![order("1"), order("2")],
            payments: vec![payment("1", "T1")],
        };
        let mut observed = Observed::default();
        observed.log.insert(
            "1".into(),
            LogOrder {
                confirmed: vec!["T1".into()],
                ..placed(5)
            },
        );
        observed.log.insert(
            "2".into(),
            LogOrder {
                timeouts: vec![at(6)],
                ..placed(5)
            },
        );
        observed.in_view = ["1".to_owned(), "2".to_owned()].into();
        (entries, observed)
    }

    fn findings(entries: &Entries, observed: &Observed) -> Findings {
        check(entries, observed, at(100), TimeDelta::seconds(10))
    }

    #[test]
    fn a_history_that_kept_every_promise_is_clean() {
        let (entries, observed) = clean_history();
        assert_eq!(findings(&entries, &observed), Findings::default());
    }

    #[test]
    fn an_acknowledged_order_missing_from_the_log_is_lost() {
        let (entries, mut observed) = clean_history();
        observed.log.remove("2");
        let found = findings(&entries, &observed);
        assert_eq!(found.lost.len(), 1, "{found:?}");
        assert!(found.lost[0].contains("order 2"));
    }

    #[test]
    fn an_acknowledged_payment_missing_from_the_log_is_lost() {
        let (entries, mut observed) = clean_history();
        if let Some(log) = observed.log.get_mut("1") {
            log.confirmed.clear();
            // unpaid now, and its deadline did not fire either
        }
        let found = findings(&entries, &observed);
        assert_eq!(found.lost.len(), 1, "{found:?}");
        assert!(found.lost[0].contains("payment T1"));
        assert_eq!(found.unfired.len(), 1);
    }

    #[test]
    fn a_payment_recorded_after_close_is_not_lost() {
        let (mut entries, mut observed) = clean_history();
        entries.payments.push(payment("2", "T2"));
        if let Some(log) = observed.log.get_mut("2") {
            log.paid_after_close.push("T2".into());
        }
        assert!(findings(&entries, &observed).is_clean());
    }

    #[test]
    fn a_transaction_recorded_on_two_orders_is_doubled() {
        let (entries, mut observed) = clean_history();
        if let Some(log) = observed.log.get_mut("2") {
            log.paid_after_close.push("T1".into());
        }
        let found = findings(&entries, &observed);
        assert_eq!(
            found.doubled,
            vec!["transaction T1 is recorded 2 times".to_owned()]
        );
    }

    #[test]
    fn a_deadline_that_fired_twice_early_or_on_a_paid_order_is_misfired() {
        let (entries, mut observed) = clean_history();
        if let Some(log) = observed.log.get_mut("2") {
            log.timeouts = vec![at(6), at(7)];
        }
        assert_eq!(findings(&entries, &observed).misfired.len(), 1);
        if let Some(log) = observed.log.get_mut("2") {
            log.timeouts = vec![at(4)];
        }
        assert_eq!(findings(&entries, &observed).misfired.len(), 1);
        if let Some(log) = observed.log.get_mut("1") {
            log.timeouts = vec![at(6)];
        }
        assert_eq!(findings(&entries, &observed).misfired.len(), 2);
    }

    #[test]
    fn an_unfired_deadline_counts_only_once_it_had_time_to_settle() {
        let (entries, mut observed) = clean_history();
        if let Some(log) = observed.log.get_mut("2") {
            log.timeouts.clear();
        }
        assert!(check(&entries, &observed, at(14), TimeDelta::seconds(10)).is_clean());
        assert_eq!(
            check(&entries, &observed, at(16), TimeDelta::seconds(10))
                .unfired
                .len(),
            1
        );
    }

    #[test]
    fn an_order_missing_from_the_views_is_lost_in_view() {
        let (entries, mut observed) = clean_history();
        observed.in_view.remove("1");
        assert_eq!(findings(&entries, &observed).lost_in_view.len(), 1);
    }

    #[test]
    fn lateness_is_taken_over_the_deadlines_due_in_the_window() {
        let observed = Observed {
            fired_deadlines: vec![(1_000, 1_200), (5_000, 14_000), (9_000, 9_100)],
            ..Observed::default()
        };
        assert_eq!(observed.lateness_max_ms(0, 2_000), 200);
        assert_eq!(observed.lateness_max_ms(0, 10_000), 9_000);
        assert_eq!(observed.lateness_max_ms(6_000, 10_000), 100);
        assert_eq!(observed.lateness_max_ms(20_000, 30_000), 0);
    }
}
