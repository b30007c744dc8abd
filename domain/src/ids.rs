//! Identifiers: the order id (a positive 64-bit integer) and the text ids of buyers, sellers,
//! SKUs, payment transactions, refunds and parcels.
//!
//! Each is a newtype with a private field, built only through a constructor that checks it
//! (`parse`, `new`, `TryFrom`, `FromStr`), also when deserialised: holding one is proof that it
//! is valid.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Longest text id, in characters.
pub const ID_LEN_MAX: usize = 64;

/// Longest input echoed back in an [`IdError`], so that a huge bad input does not end up in logs.
const ERROR_INPUT_LEN_MAX: usize = 40;

/// Why a text could not become an id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// The text was empty.
    #[error("{kind} must not be empty")]
    Empty {
        /// Which id was being parsed, e.g. "buyer id".
        kind: &'static str,
    },
    /// The text was longer than [`ID_LEN_MAX`] characters.
    #[error("{kind} must be at most {ID_LEN_MAX} characters long, got {len}")]
    TooLong {
        /// Which id was being parsed.
        kind: &'static str,
        /// Length of the rejected text, in characters.
        len: usize,
    },
    /// The text held a character outside `[A-Za-z0-9_.:-]`.
    #[error(
        "{kind} may only contain ASCII letters, digits, '_', '.', ':' and '-', found {found:?}"
    )]
    InvalidCharacter {
        /// Which id was being parsed.
        kind: &'static str,
        /// The first character that is not allowed.
        found: char,
    },
    /// An order id that is not a positive decimal integer that fits in 64 bits.
    #[error("order id must be a positive decimal integer below 2^64, got {input:?}")]
    InvalidOrderId {
        /// The rejected input (cut to its first 40 characters).
        input: String,
    },
}

fn validate_text_id(kind: &'static str, text: &str) -> Result<(), IdError> {
    if text.is_empty() {
        return Err(IdError::Empty { kind });
    }
    if let Some(found) = text
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '-')))
    {
        return Err(IdError::InvalidCharacter { kind, found });
    }
    // Only ASCII is left, so bytes are characters.
    if text.len() > ID_LEN_MAX {
        return Err(IdError::TooLong {
            kind,
            len: text.len(),
        });
    }
    Ok(())
}

macro_rules! text_id {
    ($(#[$meta:meta])* $name:ident, $kind:literal) => {
        $(#[$meta])*
        ///
        /// Non-empty, at most 64 characters of `[A-Za-z0-9_.:-]`; serialised as a plain string
        /// and checked again when deserialised.
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            #[doc = concat!("Parses a ", $kind, ".")]
            pub fn parse(text: &str) -> Result<Self, IdError> {
                validate_text_id($kind, text)?;
                Ok(Self(text.to_owned()))
            }

            #[doc = concat!("The ", $kind, " as text.")]
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;

            fn try_from(text: String) -> Result<Self, IdError> {
                validate_text_id($kind, &text)?;
                Ok(Self(text))
            }
        }

        impl FromStr for $name {
            type Err = IdError;

            fn from_str(text: &str) -> Result<Self, IdError> {
                Self::parse(text)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

text_id!(
    /// The buyer who places orders and owns a cart (the cart's aggregate id).
    BuyerId,
    "buyer id"
);
text_id!(
    /// The seller who lists products and fulfils orders.
    SellerId,
    "seller id"
);
text_id!(
    /// A stock-keeping unit: the aggregate id of its `Product` and of its `Sku` stock.
    SkuId,
    "SKU id"
);
text_id!(
    /// A payment provider's transaction: the dedup key of a payment.
    TxnId,
    "transaction id"
);
text_id!(
    /// A refund, chosen by the caller: the dedup key of a refund request.
    RefundId,
    "refund id"
);
text_id!(
    /// A flash-sale campaign: the aggregate id of its `Campaign`.
    CampaignId,
    "campaign id"
);
text_id!(
    /// A carrier's parcel tracking number.
    TrackingNumber,
    "tracking number"
);

/// An order's id: a positive 64-bit integer (see DESIGN.md section 4 for how it is issued).
///
/// Displayed as a decimal number and serialised as a decimal *string*, because JavaScript
/// numbers lose precision past 2^53; deserialising accepts only that string form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct OrderId(u64);

impl OrderId {
    /// An order id from its number; zero is not an order id.
    pub fn new(id: u64) -> Result<Self, IdError> {
        if id == 0 {
            return Err(IdError::InvalidOrderId {
                input: "0".to_owned(),
            });
        }
        Ok(Self(id))
    }

    /// The id as a number.
    pub const fn get(self) -> u64 {
        self.0
    }
}

impl FromStr for OrderId {
    type Err = IdError;

    /// Parses ASCII decimal digits only (no sign, no spaces).
    fn from_str(text: &str) -> Result<Self, IdError> {
        let invalid = || IdError::InvalidOrderId {
            input: text.chars().take(ERROR_INPUT_LEN_MAX).collect(),
        };
        if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid());
        }
        match text.parse::<u64>() {
            Ok(id) if id > 0 => Ok(Self(id)),
            _ => Err(invalid()),
        }
    }
}

impl TryFrom<String> for OrderId {
    type Error = IdError;

    fn try_from(text: String) -> Result<Self, IdError> {
        text.parse()
    }
}

impl From<OrderId> for String {
    fn from(id: OrderId) -> String {
        id.to_string()
    }
}

impl fmt::Display for OrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}
