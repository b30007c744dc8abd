//! The `Product` aggregate: the title and price of one SKU, and the version of its snapshot.
//!
//! One product is one SKU; its aggregate id is the SKU id. Every price change bumps the
//! snapshot version, so that an order can name the exact snapshot the buyer saw and a stale
//! one can be refused ("product changed, refresh").

use std::fmt;

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};

use crate::{Money, ORDER_ITEMS_MAX, Quantity, SellerId, SkuId};

/// Longest product title, in characters.
pub const TITLE_LEN_MAX: usize = 200;

/// Highest unit price, in cents (a billion in major units). Bounded so that no order can
/// overflow its total: the dearest line times the most units, times the most lines, still
/// fits in an `i64` ninety times over.
pub const UNIT_PRICE_MAX_CENTS: i64 = 100_000_000_000;

const _: () = assert!(
    UNIT_PRICE_MAX_CENTS as i128 * Quantity::MAX as i128 * ORDER_ITEMS_MAX as i128
        <= i64::MAX as i128 / 90
);

/// A unit price from `cents`: 1 to [`UNIT_PRICE_MAX_CENTS`].
pub fn unit_price(cents: i64) -> Result<Money, ProductError> {
    if (1..=UNIT_PRICE_MAX_CENTS).contains(&cents) {
        Money::from_minor(cents).map_err(|_| ProductError::InvalidPrice)
    } else {
        Err(ProductError::InvalidPrice)
    }
}

/// A product title: 1 to [`TITLE_LEN_MAX`] characters, not blank, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ProductTitle(String);

/// Why a text could not become a [`ProductTitle`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TitleError {
    /// Empty or only whitespace.
    #[error("product title must not be blank")]
    Blank,
    /// Longer than [`TITLE_LEN_MAX`] characters.
    #[error("product title must be at most {TITLE_LEN_MAX} characters long, got {len}")]
    TooLong {
        /// Length of the rejected title, in characters.
        len: usize,
    },
    /// Holds a control character (a line break, a tab, ...).
    #[error("product title must not contain control characters")]
    ControlCharacter,
}

impl ProductTitle {
    /// Parses a title.
    pub fn parse(text: &str) -> Result<Self, TitleError> {
        Self::check(text)?;
        Ok(Self(text.to_owned()))
    }

    /// The title as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn check(text: &str) -> Result<(), TitleError> {
        if text.trim().is_empty() {
            return Err(TitleError::Blank);
        }
        let len = text.chars().count();
        if len > TITLE_LEN_MAX {
            return Err(TitleError::TooLong { len });
        }
        if text.chars().any(char::is_control) {
            return Err(TitleError::ControlCharacter);
        }
        Ok(())
    }
}

impl TryFrom<String> for ProductTitle {
    type Error = TitleError;

    fn try_from(text: String) -> Result<Self, TitleError> {
        Self::check(&text)?;
        Ok(Self(text))
    }
}

impl From<ProductTitle> for String {
    fn from(title: ProductTitle) -> String {
        title.0
    }
}

impl fmt::Display for ProductTitle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a buyer sees of a product at one moment, and what an order item is bought at.
///
/// `version` starts at 1 and grows by one with every price change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductSnapshot {
    /// The SKU.
    pub sku: SkuId,
    /// Who sells it.
    pub seller: SellerId,
    /// Its title.
    pub title: ProductTitle,
    /// Price of one unit.
    pub unit_price: Money,
    /// Snapshot version.
    pub version: u32,
}

/// A command to the `Product` aggregate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProductCommand {
    /// List a new product.
    CreateProduct(CreateProduct),
    /// Change its price.
    ChangePrice(ChangePrice),
}

/// List a new product at a positive price.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateProduct {
    /// The SKU (also the aggregate id).
    pub sku: SkuId,
    /// Who sells it.
    pub seller: SellerId,
    /// Its title.
    pub title: ProductTitle,
    /// Price of one unit; must be positive.
    pub price: Money,
    /// When.
    pub at: DateTime<Utc>,
}

/// Change the unit price; the same price again changes nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangePrice {
    /// The new unit price; must be positive.
    pub price: Money,
    /// When.
    pub at: DateTime<Utc>,
}

/// An event of the `Product` aggregate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProductEvent {
    /// A product was listed.
    ProductCreated(ProductCreated),
    /// Its price changed.
    PriceChanged(PriceChanged),
}

/// A product was listed; its snapshot version is 1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductCreated {
    /// The SKU.
    pub sku: SkuId,
    /// Who sells it.
    pub seller: SellerId,
    /// Its title.
    pub title: ProductTitle,
    /// Price of one unit.
    pub price: Money,
    /// Snapshot version: always 1.
    pub version: u32,
    /// When.
    pub at: DateTime<Utc>,
}

/// A product's unit price changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriceChanged {
    /// The new unit price.
    pub price: Money,
    /// The new snapshot version: the previous one plus one.
    pub version: u32,
    /// When.
    pub at: DateTime<Utc>,
}

impl DomainEvent for ProductEvent {
    fn event_type(&self) -> String {
        match self {
            Self::ProductCreated(_) => "ProductCreated",
            Self::PriceChanged(_) => "PriceChanged",
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        "1.0".to_owned()
    }
}

/// Why the `Product` aggregate refused a command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProductError {
    /// `CreateProduct` for a SKU that already has a product.
    #[error("a product with this SKU already exists")]
    AlreadyExists,
    /// A command other than `CreateProduct` for a SKU without a product.
    #[error("product not found")]
    NotFound,
    /// A price of zero or above [`UNIT_PRICE_MAX_CENTS`].
    #[error("a product's price must be 1 to {UNIT_PRICE_MAX_CENTS} cents")]
    InvalidPrice,
    /// The snapshot version would pass `u32::MAX`.
    #[error("the product's version cannot grow any further")]
    VersionOverflow,
}

/// The `Product` aggregate: `None` until created.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Product {
    snapshot: Option<ProductSnapshot>,
}

impl Product {
    /// The current snapshot, `None` when the product does not exist.
    pub fn snapshot(&self) -> Option<ProductSnapshot> {
        self.snapshot.clone()
    }

    /// Decides what a command changes, without changing anything.
    pub fn decide(&self, command: ProductCommand) -> Result<Vec<ProductEvent>, ProductError> {
        match command {
            ProductCommand::CreateProduct(command) => self.create(command),
            ProductCommand::ChangePrice(command) => self.change_price(command),
        }
    }

    fn create(&self, command: CreateProduct) -> Result<Vec<ProductEvent>, ProductError> {
        if self.snapshot.is_some() {
            return Err(ProductError::AlreadyExists);
        }
        unit_price(command.price.minor())?;
        Ok(vec![ProductEvent::ProductCreated(ProductCreated {
            sku: command.sku,
            seller: command.seller,
            title: command.title,
            price: command.price,
            version: 1,
            at: command.at,
        })])
    }

    fn change_price(&self, command: ChangePrice) -> Result<Vec<ProductEvent>, ProductError> {
        let snapshot = self.snapshot.as_ref().ok_or(ProductError::NotFound)?;
        unit_price(command.price.minor())?;
        if command.price == snapshot.unit_price {
            return Ok(vec![]);
        }
        let version = snapshot
            .version
            .checked_add(1)
            .ok_or(ProductError::VersionOverflow)?;
        Ok(vec![ProductEvent::PriceChanged(PriceChanged {
            price: command.price,
            version,
            at: command.at,
        })])
    }
}

impl Aggregate for Product {
    const TYPE: &'static str = "Product";
    type Command = ProductCommand;
    type Event = ProductEvent;
    type Error = ProductError;
    type Services = ();

    async fn handle(
        &mut self,
        command: ProductCommand,
        _services: &(),
        sink: &EventSink<Self>,
    ) -> Result<(), ProductError> {
        for event in self.decide(command)? {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: ProductEvent) {
        match event {
            ProductEvent::ProductCreated(e) => {
                self.snapshot = Some(ProductSnapshot {
                    sku: e.sku,
                    seller: e.seller,
                    title: e.title,
                    unit_price: e.price,
                    version: e.version,
                });
            }
            ProductEvent::PriceChanged(e) => {
                if let Some(snapshot) = &mut self.snapshot {
                    snapshot.unit_price = e.price;
                    snapshot.version = e.version;
                }
            }
        }
    }
}
