//! Buyer routes for the cart. The cart is cleared by a reaction to `OrderPlaced`, never by
//! the placement itself.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, delete, get, put, web};
use domain::{BuyerId, Cart, Quantity, SkuId};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::auth::{Principal, Role};
use crate::http::{field, metadata, versioned};
use crate::problem::Problem;
use crate::state::AppState;
use crate::views::CartView;

/// How many units of a SKU the cart should hold.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct SetCartItemRequest {
    /// Units, 1 to 10 000.
    quantity: u32,
}

/// The buyer behind a buyer token.
pub(crate) fn buyer_of(principal: &Principal) -> Result<BuyerId, Problem> {
    principal.require(Role::Buyer)?;
    BuyerId::parse(&principal.subject)
        .map_err(|_| Problem::forbidden("the token's subject is not a valid buyer id"))
}

/// Sets the quantity of a SKU in the caller's cart.
#[utoipa::path(
    request_body(content = SetCartItemRequest, example = json!({ "quantity": 2 })),
    params(("sku" = String, Path, description = "SKU")),
    responses((status = 200, description = "The cart", body = CartView), (status = 422, description = "A field is invalid", body = Problem)),
    security(("bearer" = [])),
    tag = "buyer"
)]
#[put("/v1/cart/items/{sku}")]
pub(crate) async fn set_item(
    state: web::Data<AppState>,
    principal: Principal,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Json<SetCartItemRequest>,
) -> Result<HttpResponse, Problem> {
    let buyer = buyer_of(&principal)?;
    let sku = field("sku", SkuId::parse(&path))?;
    let quantity = field("quantity", Quantity::new(body.quantity))?;
    let meta = metadata(&req, &principal, None);
    let executed = (state.services.cart)
        .set_item(&buyer, sku, quantity, &meta)
        .await?;
    let view = CartView::of(&executed.aggregate, executed.version);
    Ok(versioned(StatusCode::OK, executed.version, &view))
}

/// Removes a SKU from the caller's cart.
#[utoipa::path(
    params(("sku" = String, Path, description = "SKU")),
    responses((status = 200, description = "The cart", body = CartView)),
    security(("bearer" = [])),
    tag = "buyer"
)]
#[delete("/v1/cart/items/{sku}")]
pub(crate) async fn remove_item(
    state: web::Data<AppState>,
    principal: Principal,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let buyer = buyer_of(&principal)?;
    let sku = field("sku", SkuId::parse(&path))?;
    let meta = metadata(&req, &principal, None);
    let executed = (state.services.cart)
        .remove_item(&buyer, sku, &meta)
        .await?;
    let view = CartView::of(&executed.aggregate, executed.version);
    Ok(versioned(StatusCode::OK, executed.version, &view))
}

/// The caller's cart.
#[utoipa::path(
    responses((status = 200, description = "The cart", body = CartView)),
    security(("bearer" = [])),
    tag = "buyer"
)]
#[get("/v1/cart")]
pub(crate) async fn get_cart(
    state: web::Data<AppState>,
    principal: Principal,
) -> Result<HttpResponse, Problem> {
    let buyer = buyer_of(&principal)?;
    let loaded = state.stores.load::<Cart>(buyer.as_str()).await?;
    let view = CartView::of(&loaded.aggregate, loaded.version);
    Ok(versioned(StatusCode::OK, loaded.version, &view))
}
