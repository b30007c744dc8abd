//! `POST /v1/orders`: placing a checked-out order (the workflow is
//! [`crate::services::placement`]'s), once admission control let it start.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, post, web};
use domain::{CampaignId, OrderId, Quantity, SkuId};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::admission::Admission;
use crate::auth::Principal;
use crate::errors::ToProblem;
use crate::http::{field, metadata};
use crate::problem::Problem;
use crate::routes::cart::buyer_of;
use crate::services::placement::{OrderLine, PlaceRequest};
use crate::state::AppState;
use crate::views::order_answer;

/// An order to place.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct PlaceOrderRequest {
    /// The order id from `POST /v1/checkout` (decimal string).
    order_id: String,
    /// The checkout token issued with it.
    checkout_token: String,
    /// What to buy: one line per SKU, all from one seller.
    items: Vec<PlaceOrderItem>,
    /// The flash-sale campaign to buy in: then `items` is one line of its SKU, at most its
    /// limit per buyer, at the campaign's price.
    campaign_id: Option<String>,
}

/// One line of an order to place.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct PlaceOrderItem {
    /// SKU.
    sku: String,
    /// Units, 1 to 10 000.
    quantity: u32,
    /// The product snapshot version the buyer saw (`product_version` of the product).
    product_version: u32,
}

/// Places an order. Placing the same order again answers 200 with the same body.
#[utoipa::path(
    request_body(content = PlaceOrderRequest, example = json!({ "order_id": "118224719360049153", "checkout_token": "eyJhbGciOiJIUzI1NiJ9.eyJvcmRlcl9pZCI6IjExODIyNDcxOTM2MDA0OTE1MyJ9.c2lnbmF0dXJl", "items": [{ "sku": "tea-500g", "quantity": 2, "product_version": 1 }] })),
    responses(
        (status = 201, description = "Placed", body = projections::OrderDocument),
        (status = 200, description = "Placed before with the same content", body = projections::OrderDocument),
        (status = 403, description = "The checkout token is not valid for this buyer and order", body = Problem),
        (status = 404, description = "No such campaign (`campaign-not-found`)", body = Problem),
        (status = 409, description = "Product changed (`product-changed`), out of stock, the id holds another order; in a campaign: `campaign-sold-out`, `campaign-limit-reached`, `campaign-not-started`, `campaign-ended`", body = Problem),
        (status = 422, description = "A field is invalid", body = Problem),
        (status = 429, description = "Refused by admission control before any read or write: too many placements (`too-many-requests`) or a risk rule (`risk-refused`); Retry-After says when to retry", body = Problem)
    ),
    security(("bearer" = [])),
    tag = "buyer"
)]
#[post("/v1/orders")]
pub(crate) async fn place_order(
    state: web::Data<AppState>,
    admission: web::Data<Admission>,
    principal: Principal,
    req: HttpRequest,
    body: web::Json<PlaceOrderRequest>,
) -> Result<HttpResponse, Problem> {
    let body = body.into_inner();
    let buyer = buyer_of(&principal)?;
    // a campaign's placement is admitted at the buyer's rate in that campaign
    let _admitted = admission.admit(buyer.as_str(), body.campaign_id.as_deref())?;
    let request = PlaceRequest {
        buyer,
        order_id: field::<OrderId, _>("order_id", body.order_id.parse())?,
        checkout_token: body.checkout_token,
        lines: body
            .items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                Ok(OrderLine {
                    sku: field(&format!("items[{i}].sku"), SkuId::parse(&item.sku))?,
                    quantity: field(
                        &format!("items[{i}].quantity"),
                        Quantity::new(item.quantity),
                    )?,
                    product_version: item.product_version,
                })
            })
            .collect::<Result<_, Problem>>()?,
        campaign: body
            .campaign_id
            .as_deref()
            .map(|id| {
                CampaignId::parse(id).map_err(|_| domain::CampaignError::NotFound.to_problem())
            })
            .transpose()?,
    };
    let meta = metadata(&req, &principal, None);
    let placed = state
        .services
        .placement
        .place(request, &meta)
        .await
        .map_err(|err| err.to_problem())?;
    let status = if placed.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(order_answer(status, &placed.order, placed.version))
}
