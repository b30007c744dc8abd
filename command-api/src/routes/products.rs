//! Seller routes: create a product with its stock, change its price, add stock; and reading a
//! product or its stock.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, put, web};
use domain::{Product, ProductError, ProductTitle, SellerId, SkuId};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::auth::{Principal, Role};
use crate::errors::ToProblem;
use crate::http::{field, idempotency_key, if_match, metadata, versioned};
use crate::known_ids::{KnownIds, PRODUCT};
use crate::problem::Problem;
use crate::services::catalogue::NewProduct;
use crate::state::AppState;
use crate::views::{ProductView, StockView};

/// A new product (one product is one SKU) and its initial stock.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct CreateProductRequest {
    /// SKU: 1 to 64 of `A-Z a-z 0-9 _ . : -`.
    sku: String,
    /// Title, 1 to 200 characters.
    title: String,
    /// Unit price in cents, 1 to 100 000 000 000.
    price_cents: i64,
    /// Units in stock, 0 to 4 294 967 295.
    initial_stock: u32,
}

/// A new price.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct ChangePriceRequest {
    /// Unit price in cents, 1 to 100 000 000 000.
    price_cents: i64,
}

/// Units to add to a SKU's stock.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct AddStockRequest {
    /// Units, 1 to 4 294 967 295.
    quantity: u32,
}

pub(crate) fn seller_of(principal: &Principal) -> Result<SellerId, Problem> {
    principal.require(Role::Seller)?;
    SellerId::parse(&principal.subject)
        .map_err(|_| Problem::forbidden("the token's subject is not a valid seller id"))
}

fn sku_path(sku: &str) -> Result<SkuId, Problem> {
    field("sku", SkuId::parse(sku))
}

/// Creates a product and its stock. Retrying the same request answers with the product.
#[utoipa::path(
    request_body(content = CreateProductRequest, example = json!({ "sku": "tea-500g", "title": "Green tea 500 g", "price_cents": 1299, "initial_stock": 10 })),
    responses(
        (status = 201, description = "Created", body = ProductView),
        (status = 200, description = "Created before with the same content", body = ProductView),
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
    let product = NewProduct {
        seller: seller_of(&principal)?,
        sku: field("sku", SkuId::parse(&body.sku))?,
        title: field("title", ProductTitle::parse(&body.title))?,
        price: field("price_cents", domain::unit_price(body.price_cents))?,
        initial_stock: body.initial_stock,
    };
    let meta = metadata(&req, &principal, None);
    let product = state
        .services
        .catalogue
        .create_product(product, &meta)
        .await
        .map_err(|err| err.to_problem())?;
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
    request_body(content = ChangePriceRequest, example = json!({ "price_cents": 1199 })),
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
    let price = field("price_cents", domain::unit_price(body.price_cents))?;
    let meta = metadata(&req, &principal, None);
    let executed = state
        .services
        .catalogue
        .change_price(&seller, &sku, price, if_match(&req)?, &meta)
        .await
        .map_err(|err| err.to_problem())?;
    let view = ProductView::of(&executed.aggregate, executed.version)
        .ok_or_else(|| ProductError::NotFound.to_problem())?;
    Ok(versioned(StatusCode::OK, executed.version, &view))
}

/// Adds units to a SKU's stock. Send an `Idempotency-Key` to make a retry safe.
#[utoipa::path(
    request_body(content = AddStockRequest, example = json!({ "quantity": 5 })),
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
    let key = idempotency_key(&req)?;
    let meta = metadata(&req, &principal, None);
    let executed = state
        .services
        .catalogue
        .add_stock(&seller, &sku, body.quantity, key.as_deref(), &meta)
        .await
        .map_err(|err| err.to_problem())?;
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
    known: web::Data<KnownIds>,
    _principal: Principal,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let sku = sku_path(&path)?;
    // a product the log does not know is absent without a read
    if !known.may_exist(PRODUCT, sku.as_str()) {
        return Err(ProductError::NotFound.to_problem());
    }
    let loaded = state.stores.load::<Product>(sku.as_str()).await?;
    let view = ProductView::of(&loaded.aggregate, loaded.version)
        .ok_or_else(|| ProductError::NotFound.to_problem())?;
    Ok(versioned(StatusCode::OK, loaded.version, &view))
}
