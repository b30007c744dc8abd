//! Seller routes: create a product with its stock, change its price, add stock; and reading a
//! product or its stock.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, put, web};
use chrono::Utc;
use domain::{
    AddStock, ChangePrice, CreateProduct, CreateSku, Money, Product, ProductCommand, ProductError,
    ProductTitle, SellerId, Sku, SkuCommand, SkuError, SkuId,
};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::auth::{Principal, Role};
use crate::errors::ToProblem;
use crate::http::{field, if_match, metadata, versioned};
use crate::problem::Problem;
use crate::state::AppState;
use crate::views::{ProductView, StockView};
use event_store::{ExecuteError, execute};

/// A new product (one product is one SKU) and its initial stock.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct CreateProductRequest {
    /// SKU: 1 to 64 of `A-Z a-z 0-9 _ . : -`.
    sku: String,
    /// Title, 1 to 200 characters.
    title: String,
    /// Unit price in cents, above zero.
    price_cents: i64,
    /// Units in stock.
    initial_stock: u32,
}

/// A new price.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct ChangePriceRequest {
    /// Unit price in cents, above zero.
    price_cents: i64,
}

/// Units to add to a SKU's stock.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct AddStockRequest {
    /// Units, above zero.
    quantity: u32,
}

fn seller_of(principal: &Principal) -> Result<SellerId, Problem> {
    principal.require(Role::Seller)?;
    SellerId::parse(&principal.subject)
        .map_err(|_| Problem::forbidden("the token's subject is not a valid seller id"))
}

fn sku_path(sku: &str) -> Result<SkuId, Problem> {
    field("sku", SkuId::parse(sku))
}

/// Creates a product and its stock. Retrying the same request answers with the product.
#[utoipa::path(
    request_body = CreateProductRequest,
    responses(
        (status = 201, description = "Created", body = ProductView),
        (status = 409, description = "The SKU exists with other content", body = Problem),
        (status = 422, description = "A field is invalid", body = Problem)
    ),
    security(("bearer" = [])),
    tag = "seller"
)]
#[post("/v1/products")]
pub(crate) async fn create_product(
    state: web::Data<AppState>,
    principal: Principal,
    req: HttpRequest,
    body: web::Json<CreateProductRequest>,
) -> Result<HttpResponse, Problem> {
    let seller = seller_of(&principal)?;
    let sku = field("sku", SkuId::parse(&body.sku))?;
    let title = field("title", ProductTitle::parse(&body.title))?;
    let price = field("price_cents", Money::from_minor(body.price_cents))?;
    if price.is_zero() {
        return Err(Problem::invalid_field(
            "price_cents",
            "the price must be above zero",
        ));
    }
    let at = Utc::now();
    let meta = metadata(&req, &principal, Some("create".to_owned()));
    // The product first, then its stock; a retry of the same request finishes either half.
    let command = CreateProduct {
        sku: sku.clone(),
        seller: seller.clone(),
        title,
        price,
        at,
    };
    let product =
        execute::<Product, _>(
            &state.store,
            sku.as_str(),
            None,
            &meta,
            |product| match product.snapshot() {
                Some(existing)
                    if existing.seller == command.seller
                        && existing.title == command.title
                        && existing.version == 1
                        && existing.unit_price == command.price =>
                {
                    Ok(vec![])
                }
                _ => product.decide(ProductCommand::CreateProduct(command.clone())),
            },
        )
        .await?;
    let create_sku = CreateSku {
        sku: sku.clone(),
        seller,
        initial_stock: body.initial_stock,
        at,
    };
    let created = execute::<Sku, _>(&state.store, sku.as_str(), None, &meta, |stock| {
        if stock.sku().is_some() && stock.seller() == Some(&create_sku.seller) {
            Ok(vec![])
        } else {
            stock.decide(SkuCommand::CreateSku(create_sku.clone()))
        }
    })
    .await;
    match created {
        Ok(_) => {}
        Err(ExecuteError::Domain(SkuError::AlreadyExists)) => {
            return Err(SkuError::AlreadyExists.to_problem());
        }
        Err(other) => return Err(other.into()),
    }
    let status = if product.appended > 0 {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let view = ProductView::of(&product.aggregate, product.version)
        .ok_or_else(|| ProductError::NotFound.to_problem())?;
    Ok(versioned(status, product.version, &view))
}

/// Changes a product's price: a new snapshot version.
#[utoipa::path(
    request_body = ChangePriceRequest,
    params(("sku" = String, Path, description = "SKU"), ("If-Match" = Option<String>, Header, description = "Product version")),
    responses(
        (status = 200, description = "Changed", body = ProductView),
        (status = 404, description = "No such product of this seller", body = Problem),
        (status = 412, description = "The product changed", body = Problem)
    ),
    security(("bearer" = [])),
    tag = "seller"
)]
#[put("/v1/products/{sku}/price")]
pub(crate) async fn change_price(
    state: web::Data<AppState>,
    principal: Principal,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Json<ChangePriceRequest>,
) -> Result<HttpResponse, Problem> {
    let seller = seller_of(&principal)?;
    let sku = sku_path(&path)?;
    let price = field("price_cents", Money::from_minor(body.price_cents))?;
    if price.is_zero() {
        return Err(Problem::invalid_field(
            "price_cents",
            "the price must be above zero",
        ));
    }
    let meta = metadata(&req, &principal, None);
    let command = ChangePrice {
        price,
        at: Utc::now(),
    };
    let executed = execute::<Product, _>(
        &state.store,
        sku.as_str(),
        if_match(&req)?,
        &meta,
        |product| match product.snapshot() {
            Some(snapshot) if snapshot.seller == seller => {
                product.decide(ProductCommand::ChangePrice(command.clone()))
            }
            _ => Err(ProductError::NotFound),
        },
    )
    .await?;
    let view = ProductView::of(&executed.aggregate, executed.version)
        .ok_or_else(|| ProductError::NotFound.to_problem())?;
    Ok(versioned(StatusCode::OK, executed.version, &view))
}

/// Adds units to a SKU's stock. Send an `Idempotency-Key` to make a retry safe.
#[utoipa::path(
    request_body = AddStockRequest,
    params(("sku" = String, Path, description = "SKU"), ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe")),
    responses(
        (status = 200, description = "Added", body = StockView),
        (status = 404, description = "No such SKU of this seller", body = Problem)
    ),
    security(("bearer" = [])),
    tag = "seller"
)]
#[post("/v1/skus/{sku}/stock")]
pub(crate) async fn add_stock(
    state: web::Data<AppState>,
    principal: Principal,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Json<AddStockRequest>,
) -> Result<HttpResponse, Problem> {
    let seller = seller_of(&principal)?;
    let sku = sku_path(&path)?;
    let key = crate::http::idempotency_key(&req)?.map(|k| format!("stock:{k}"));
    let meta = metadata(&req, &principal, key);
    let command = AddStock {
        quantity: body.quantity,
        at: Utc::now(),
    };
    let executed = execute::<Sku, _>(&state.store, sku.as_str(), None, &meta, |stock| {
        if stock.seller() != Some(&seller) {
            return Err(SkuError::NotFound);
        }
        stock.decide(SkuCommand::AddStock(command.clone()))
    })
    .await?;
    Ok(versioned(
        StatusCode::OK,
        executed.version,
        &StockView::of(&executed.aggregate, executed.version),
    ))
}

/// A product with its current price and snapshot version.
#[utoipa::path(
    params(("sku" = String, Path, description = "SKU")),
    responses(
        (status = 200, description = "The product", body = ProductView),
        (status = 404, description = "No such product", body = Problem)
    ),
    security(("bearer" = [])),
    tag = "catalogue"
)]
#[get("/v1/products/{sku}")]
pub(crate) async fn get_product(
    state: web::Data<AppState>,
    _principal: Principal,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let sku = sku_path(&path)?;
    let loaded = state.store.load::<Product>(sku.as_str()).await?;
    let view = ProductView::of(&loaded.aggregate, loaded.version)
        .ok_or_else(|| ProductError::NotFound.to_problem())?;
    Ok(versioned(StatusCode::OK, loaded.version, &view))
}
