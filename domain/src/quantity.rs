//! How many units of one SKU a buyer takes: an order line, a reservation, a cart line.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A number of units of one SKU, from 1 to [`Quantity::MAX`].
///
/// Serialised as a JSON number and checked again when deserialised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct Quantity(u32);

/// Why a number could not become a [`Quantity`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("quantity must be between 1 and {max}, got {got}", max = Quantity::MAX)]
pub struct QuantityError {
    got: u32,
}

impl QuantityError {
    /// The rejected number.
    pub const fn got(&self) -> u32 {
        self.got
    }
}

impl Quantity {
    /// The most units of one SKU in one order line, reservation or cart line.
    pub const MAX: u32 = 10_000;

    /// A quantity from 1 to [`Quantity::MAX`].
    pub fn new(units: u32) -> Result<Self, QuantityError> {
        if (1..=Self::MAX).contains(&units) {
            Ok(Self(units))
        } else {
            Err(QuantityError { got: units })
        }
    }

    /// The number of units.
    pub const fn get(self) -> u32 {
        self.0
    }
}

impl TryFrom<u32> for Quantity {
    type Error = QuantityError;

    fn try_from(units: u32) -> Result<Self, QuantityError> {
        Self::new(units)
    }
}

impl From<Quantity> for u32 {
    fn from(quantity: Quantity) -> u32 {
        quantity.0
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}
