//! Allocation of a discount over items, and per-unit refund shares.

use domain::{AllocationError, Money, allocate, refund_share};
use proptest::prelude::*;

use crate::fixtures::{money, qty};

fn minors(parts: &[Money]) -> Vec<i64> {
    parts.iter().map(|m| m.minor()).collect()
}

fn allocated(total: i64, weights: &[i64]) -> Result<Vec<i64>, AllocationError> {
    let weights: Vec<Money> = weights.iter().map(|w| money(*w)).collect();
    allocate(money(total), &weights).map(|parts| minors(&parts))
}

#[test]
fn allocation_splits_in_proportion_to_the_weights() {
    assert_eq!(allocated(10, &[30, 70]), Ok(vec![3, 7]));
    assert_eq!(allocated(500, &[1000, 3000, 1000]), Ok(vec![100, 300, 100]));
}

#[test]
fn allocation_gives_left_over_cents_to_the_largest_remainders() {
    // Exact shares 1.5, 2.5 and 6: the two halves tie, so the earlier item gets the cent.
    assert_eq!(allocated(10, &[15, 25, 60]), Ok(vec![2, 2, 6]));
    // Exact shares 0.6, 0.3, 0.1: one cent, to the largest remainder.
    assert_eq!(allocated(1, &[6, 3, 1]), Ok(vec![1, 0, 0]));
}

#[test]
fn allocation_breaks_ties_in_favour_of_earlier_items() {
    assert_eq!(allocated(100, &[100, 100, 100]), Ok(vec![34, 33, 33]));
    assert_eq!(allocated(2, &[5, 5, 5]), Ok(vec![1, 1, 0]));
}

#[test]
fn allocating_the_whole_weight_gives_each_item_its_weight() {
    assert_eq!(allocated(17, &[5, 0, 12]), Ok(vec![5, 0, 12]));
}

#[test]
fn allocating_nothing_gives_zeros_even_without_weight() {
    assert_eq!(allocated(0, &[0, 0]), Ok(vec![0, 0]));
    assert_eq!(allocated(0, &[]), Ok(vec![]));
}

#[test]
fn allocating_more_than_the_weights_is_refused() {
    assert_eq!(
        allocated(11, &[4, 6]),
        Err(AllocationError::TotalExceedsWeights {
            total: money(11),
            weights_sum: 10
        })
    );
    assert!(allocated(1, &[]).is_err());
    assert!(allocated(1, &[0, 0]).is_err());
}

#[test]
fn allocation_does_not_overflow_on_huge_weights() {
    let max = i64::MAX;
    assert_eq!(allocated(max, &[max, max]), Ok(vec![max / 2 + 1, max / 2]));
}

#[test]
fn refunding_units_one_by_one_returns_the_paid_amount_exactly() {
    // 100 paid for 3 units: 33, 33, 34.
    let paid = money(100);
    let shares: Vec<i64> = (0..3)
        .map(|r| refund_share(paid, qty(3), r, 1).unwrap().minor())
        .collect();
    assert_eq!(shares, vec![33, 33, 34]);
    assert_eq!(refund_share(paid, qty(3), 0, 3), Some(paid));
}

#[test]
fn refunding_more_units_than_were_bought_has_no_share() {
    assert_eq!(refund_share(money(100), qty(3), 2, 2), None);
    assert_eq!(refund_share(money(100), qty(3), u32::MAX, 1), None);
}

/// Walks `steps` as refund sizes until all `quantity` units are refunded.
fn split(quantity: u32, steps: &[u32]) -> Vec<u32> {
    let mut left = quantity;
    let mut parts = Vec::new();
    for step in steps {
        if left == 0 {
            break;
        }
        let part = (*step).min(left);
        parts.push(part);
        left -= part;
    }
    if left > 0 {
        parts.push(left);
    }
    parts
}

proptest! {
    #[test]
    fn allocation_sums_exactly_to_the_total(
        weights in prop::collection::vec(0i64..=1_000_000_000_000, 1..20),
        per_million in 0i128..=1_000_000,
    ) {
        let sum: i128 = weights.iter().map(|w| i128::from(*w)).sum();
        let total = i64::try_from(sum * per_million / 1_000_000).unwrap();
        let parts = allocated(total, &weights).unwrap();
        prop_assert_eq!(parts.len(), weights.len());
        prop_assert_eq!(parts.iter().map(|p| i128::from(*p)).sum::<i128>(), i128::from(total));
    }

    #[test]
    fn no_allocated_part_exceeds_its_weight(
        weights in prop::collection::vec(0i64..=1_000_000, 1..20),
        per_million in 0i128..=1_000_000,
    ) {
        let sum: i128 = weights.iter().map(|w| i128::from(*w)).sum();
        let total = i64::try_from(sum * per_million / 1_000_000).unwrap();
        let parts = allocated(total, &weights).unwrap();
        for (part, weight) in parts.iter().zip(&weights) {
            prop_assert!(*part >= 0 && part <= weight, "part {} of weight {}", part, weight);
        }
    }

    #[test]
    fn each_allocated_part_is_within_one_cent_of_its_exact_share(
        weights in prop::collection::vec(0i64..=1_000_000_000, 1..20),
        per_million in 0i128..=1_000_000,
    ) {
        let sum: i128 = weights.iter().map(|w| i128::from(*w)).sum();
        let total = sum * per_million / 1_000_000;
        let parts = allocated(i64::try_from(total).unwrap(), &weights).unwrap();
        if sum > 0 {
            for (part, weight) in parts.iter().zip(&weights) {
                // |part - total * weight / sum| < 1, without division.
                let gap = (i128::from(*part) * sum - total * i128::from(*weight)).abs();
                prop_assert!(gap < sum, "part {} of weight {}", part, weight);
            }
        }
    }

    #[test]
    fn allocating_more_than_the_weights_always_fails(
        weights in prop::collection::vec(0i64..=1_000_000, 0..20),
        excess in 1i64..=1_000,
    ) {
        let sum: i64 = weights.iter().sum();
        prop_assert!(allocated(sum + excess, &weights).is_err());
    }

    #[test]
    fn refunds_over_any_split_of_the_units_sum_to_exactly_what_was_paid(
        paid in 0i64..=1_000_000_000_000,
        quantity in 1u32..=200,
        steps in prop::collection::vec(1u32..=20, 0..40),
    ) {
        let mut refunded = 0;
        let mut returned = Money::zero();
        for units in split(quantity, &steps) {
            let share = refund_share(money(paid), qty(quantity), refunded, units).unwrap();
            refunded += units;
            returned = returned.checked_add(share).unwrap();
            prop_assert!(returned.minor() <= paid, "returned {} of {}", returned, paid);
        }
        prop_assert_eq!(refunded, quantity);
        prop_assert_eq!(returned.minor(), paid);
        prop_assert!(refund_share(money(paid), qty(quantity), refunded, 1).is_none());
    }
}
