//! Money in integer minor units, and the two ways an amount is split without losing a cent:
//! [`allocate`] spreads an order-level discount over the order's items, and [`refund_share`]
//! gives the part of an item's paid amount that a refund of some of its units returns.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::Quantity;

/// An amount of money in integer minor units (cents), never negative. There is no `f64` path.
///
/// The currency is the platform's single settlement currency. Serialised as a JSON integer and
/// checked again when deserialised.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(try_from = "i64", into = "i64")]
pub struct Money(i64);

/// Why a number could not become [`Money`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    /// Money is never negative.
    #[error("an amount of money must not be negative, got {minor} minor units")]
    Negative {
        /// The rejected amount, in minor units.
        minor: i64,
    },
}

impl Money {
    /// Nothing.
    pub const fn zero() -> Self {
        Self(0)
    }

    /// An amount in minor units (cents); negative amounts are rejected.
    pub const fn from_minor(minor: i64) -> Result<Self, MoneyError> {
        if minor < 0 {
            Err(MoneyError::Negative { minor })
        } else {
            Ok(Self(minor))
        }
    }

    /// The amount in minor units.
    pub const fn minor(self) -> i64 {
        self.0
    }

    /// Whether the amount is zero.
    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// `self + other`, or `None` on overflow.
    pub fn checked_add(self, other: Self) -> Option<Self> {
        self.0.checked_add(other.0).map(Self)
    }

    /// `self - other`, or `None` when that would be negative.
    pub fn checked_sub(self, other: Self) -> Option<Self> {
        self.0
            .checked_sub(other.0)
            .filter(|minor| *minor >= 0)
            .map(Self)
    }

    /// `self * factor`, or `None` on overflow (a unit price times a quantity).
    pub fn checked_mul(self, factor: u32) -> Option<Self> {
        self.0.checked_mul(i64::from(factor)).map(Self)
    }

    /// The sum of `amounts`, or `None` on overflow.
    pub fn checked_sum(amounts: impl IntoIterator<Item = Self>) -> Option<Self> {
        amounts
            .into_iter()
            .try_fold(Self::zero(), |sum, amount| sum.checked_add(amount))
    }
}

impl TryFrom<i64> for Money {
    type Error = MoneyError;

    fn try_from(minor: i64) -> Result<Self, MoneyError> {
        Self::from_minor(minor)
    }
}

impl From<Money> for i64 {
    fn from(money: Money) -> i64 {
        money.0
    }
}

impl fmt::Display for Money {
    /// Minor units, e.g. `1999` for 19.99: the domain does not know how the currency is written.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Why [`allocate`] could not split an amount.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AllocationError {
    /// The amount is larger than the weights together (this includes no weights, or all zero,
    /// with a positive amount), so some part would exceed its weight.
    #[error("cannot allocate {total} over weights that sum to {weights_sum}")]
    TotalExceedsWeights {
        /// The amount to split.
        total: Money,
        /// The sum of the weights, in minor units (wider than `Money`, so it cannot overflow).
        weights_sum: i128,
    },
}

/// Splits `total` over items in proportion to `weights`, by the largest-remainder method.
///
/// Each item first gets the floor of its exact share `total * weight / sum(weights)`; the cents
/// left over go one each to the items with the largest remainders, the earlier item first on a
/// tie. So the parts sum exactly to `total`, each part is within one cent of its exact share,
/// and no part exceeds its weight. The result is in the order of `weights`.
///
/// Used to spread an order-level discount over the order's items by their list totals, so
/// that a refund of one item returns what was actually paid for it.
pub fn allocate(total: Money, weights: &[Money]) -> Result<Vec<Money>, AllocationError> {
    let weights_sum: i128 = weights.iter().map(|w| i128::from(w.0)).sum();
    let total_minor = i128::from(total.0);
    if total_minor > weights_sum {
        return Err(AllocationError::TotalExceedsWeights { total, weights_sum });
    }
    if total_minor == 0 {
        return Ok(vec![Money::zero(); weights.len()]);
    }
    // Here 0 < total <= weights_sum, so weights_sum > 0.
    let mut parts: Vec<i128> = Vec::with_capacity(weights.len());
    let mut remainders: Vec<(i128, usize)> = Vec::with_capacity(weights.len());
    for (index, weight) in weights.iter().enumerate() {
        let product = total_minor * i128::from(weight.0);
        parts.push(product / weights_sum);
        remainders.push((product % weights_sum, index));
    }
    let allocated: i128 = parts.iter().sum();
    // Fewer than `weights.len()` cents are left, and at least that many items have a
    // positive remainder, so no item gets a cent whose floor already equals its weight.
    let left_over = usize::try_from(total_minor - allocated).unwrap_or(0);
    remainders.sort_by(|(ra, ia), (rb, ib)| rb.cmp(ra).then(ia.cmp(ib)));
    for (_, index) in remainders.into_iter().take(left_over) {
        if let Some(part) = parts.get_mut(index) {
            *part += 1;
        }
    }
    // Each part lies between 0 and its weight, which is an i64.
    Ok(parts
        .into_iter()
        .map(|part| Money(i64::try_from(part).unwrap_or(i64::MAX)))
        .collect())
}

/// The part of an item's `paid` amount that refunding `units` more of its `quantity` returns,
/// when `refunded` units were refunded (or are being refunded) before.
///
/// It is `paid * (refunded + units) / quantity - paid * refunded / quantity` in integer
/// arithmetic: each refund returns the difference of two cumulative floors, so refunding the
/// units in any number of steps returns exactly `paid` in total, never a cent more.
/// `None` when `refunded + units` exceeds `quantity`.
pub fn refund_share(paid: Money, quantity: Quantity, refunded: u32, units: u32) -> Option<Money> {
    let after = refunded.checked_add(units)?;
    if after > quantity.get() {
        return None;
    }
    let paid = i128::from(paid.0);
    let quantity = i128::from(quantity.get());
    let cumulative = |units: u32| paid * i128::from(units) / quantity;
    let share = cumulative(after) - cumulative(refunded);
    // 0 <= share <= paid, which is an i64.
    i64::try_from(share).ok().map(Money)
}
