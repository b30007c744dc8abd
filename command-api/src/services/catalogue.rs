//! Products and their stock: a seller creates a product with its stock, changes its price
//! (a new snapshot version) and adds stock.

use domain::{
    AddStock, ChangePrice, CreateProduct, CreateSku, Money, Product, ProductCommand, ProductError,
    ProductTitle, SellerId, Sku, SkuCommand, SkuError, SkuId,
};
use event_store::{EventMetadata, ExecuteError, Executed};
use shards::Stores;

use super::Clock;

/// A product to create, with its initial stock.
#[derive(Debug, Clone)]
pub struct NewProduct {
    /// Its seller.
    pub seller: SellerId,
    /// SKU (one product is one SKU).
    pub sku: SkuId,
    /// Title.
    pub title: ProductTitle,
    /// Unit price, above zero.
    pub price: Money,
    /// Units in stock.
    pub initial_stock: u32,
}

/// Why a catalogue command was refused.
#[derive(Debug, thiserror::Error)]
pub enum CatalogueError {
    /// A price must be above zero.
    #[error("the price must be above zero")]
    ZeroPrice,
    /// The product stream refused, or execution failed.
    #[error(transparent)]
    Product(ExecuteError<ProductError>),
    /// The SKU's stock stream refused, or execution failed.
    #[error(transparent)]
    Stock(ExecuteError<SkuError>),
}

impl From<ExecuteError<ProductError>> for CatalogueError {
    fn from(err: ExecuteError<ProductError>) -> Self {
        Self::Product(err)
    }
}

impl From<ExecuteError<SkuError>> for CatalogueError {
    fn from(err: ExecuteError<SkuError>) -> Self {
        Self::Stock(err)
    }
}

/// The catalogue use cases.
#[derive(Clone, Debug)]
pub struct Catalogue {
    store: Stores,
    clock: Clock,
}

impl Catalogue {
    /// The catalogue over `store`.
    pub fn new(store: Stores, clock: Clock) -> Self {
        Self { store, clock }
    }

    /// Creates a product and its stock: the product first, then its stock; a retry of the
    /// same request finishes either half and appends nothing else (`appended` is 0).
    pub async fn create_product(
        &self,
        product: NewProduct,
        meta: &EventMetadata,
    ) -> Result<Executed<Product>, CatalogueError> {
        if product.price.is_zero() {
            return Err(CatalogueError::ZeroPrice);
        }
        let at = self.clock.now();
        let meta = EventMetadata {
            dedup_key: Some("create".to_owned()),
            ..meta.clone()
        };
        let command = CreateProduct {
            sku: product.sku.clone(),
            seller: product.seller.clone(),
            title: product.title,
            price: product.price,
            at,
        };
        let created = self
            .store
            .execute::<Product, _>(product.sku.as_str(), None, &meta, |existing| match existing
                .snapshot()
            {
                Some(snapshot)
                    if snapshot.seller == command.seller
                        && snapshot.title == command.title
                        && snapshot.version == 1
                        && snapshot.unit_price == command.price =>
                {
                    Ok(vec![])
                }
                _ => existing.decide(ProductCommand::CreateProduct(command.clone())),
            })
            .await?;
        let create_sku = CreateSku {
            sku: product.sku.clone(),
            seller: product.seller,
            initial_stock: product.initial_stock,
            at,
        };
        self.store
            .execute::<Sku, _>(product.sku.as_str(), None, &meta, |stock| {
                if stock.sku().is_some() && stock.seller() == Some(&create_sku.seller) {
                    Ok(vec![])
                } else {
                    stock.decide(SkuCommand::CreateSku(create_sku.clone()))
                }
            })
            .await?;
        Ok(created)
    }

    /// Changes `seller`'s product `sku` to `price`, at version `expected` when given.
    pub async fn change_price(
        &self,
        seller: &SellerId,
        sku: &SkuId,
        price: Money,
        expected: Option<u64>,
        meta: &EventMetadata,
    ) -> Result<Executed<Product>, CatalogueError> {
        if price.is_zero() {
            return Err(CatalogueError::ZeroPrice);
        }
        let command = ChangePrice {
            price,
            at: self.clock.now(),
        };
        Ok(self
            .store
            .execute::<Product, _>(sku.as_str(), expected, meta, |product| {
                match product.snapshot() {
                    Some(snapshot) if &snapshot.seller == seller => {
                        product.decide(ProductCommand::ChangePrice(command.clone()))
                    }
                    _ => Err(ProductError::NotFound),
                }
            })
            .await?)
    }

    /// Adds `quantity` units to `seller`'s SKU `sku`; `idempotency_key` makes a retry add
    /// nothing twice.
    pub async fn add_stock(
        &self,
        seller: &SellerId,
        sku: &SkuId,
        quantity: u32,
        idempotency_key: Option<&str>,
        meta: &EventMetadata,
    ) -> Result<Executed<Sku>, CatalogueError> {
        let meta = EventMetadata {
            dedup_key: idempotency_key.map(|key| format!("stock:{key}")),
            request_digest: idempotency_key
                .map(|_| super::request_digest(&format!("add-stock {sku}"), &quantity)),
            ..meta.clone()
        };
        let command = AddStock {
            quantity,
            at: self.clock.now(),
        };
        Ok(self
            .store
            .execute::<Sku, _>(sku.as_str(), None, &meta, |stock| {
                if stock.seller() != Some(seller) {
                    return Err(SkuError::NotFound);
                }
                stock.decide(SkuCommand::AddStock(command.clone()))
            })
            .await?)
    }
}
