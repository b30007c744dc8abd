//! Flash-sale campaigns: a seller creates, lists and ends them; any caller reads one. Buyers
//! order in a campaign through `POST /v1/orders` with its `campaign_id`
//! ([`crate::services::placement`]).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use chrono::{DateTime, SecondsFormat, Utc};
use domain::{CampaignId, CampaignStatus, Quantity, SkuId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Principal;
use crate::errors::ToProblem;
use crate::http::{field, idempotency_key, metadata, versioned};
use crate::known_ids::{CAMPAIGN, KnownIds};
use crate::problem::Problem;
use crate::routes::products::seller_of;
use crate::services::campaigns::{CampaignState, NewCampaign};
use crate::state::AppState;

/// A campaign to create.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct CreateCampaignRequest {
    /// The SKU it sells: one of the seller's.
    sku: String,
    /// When buyers may start ordering (RFC 3339); absent: now.
    starts_at: Option<String>,
    /// When it ends (RFC 3339); after `starts_at`.
    ends_at: String,
    /// The campaign's unit price in cents, 1 to 100 000 000 000.
    price_cents: i64,
    /// Units taken from the SKU's available stock, at least 1.
    stock: u32,
    /// Units one buyer may hold at most, 1 to 10 000.
    limit_per_buyer: u32,
}

/// A campaign.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"campaign_id": "c-1f0c2d9e4b8a4f55a2b7c3d4e5f60718", "sku": "tea-500g",
    "starts_at": "2026-12-05T10:00:00Z", "ends_at": "2026-12-05T11:00:00Z", "price_cents": 999,
    "stock": 100, "remaining": 100, "limit_per_buyer": 1, "status": "Running", "version": 1}))]
pub(crate) struct CampaignView {
    /// The campaign id.
    campaign_id: String,
    /// The SKU it sells.
    sku: String,
    /// When buyers may start ordering.
    starts_at: String,
    /// When it ends (or ended, when the seller ended it early).
    ends_at: String,
    /// The campaign's unit price in cents.
    price_cents: i64,
    /// Units taken from the SKU.
    stock: u32,
    /// Units still for sale.
    remaining: u64,
    /// Units one buyer may hold at most.
    limit_per_buyer: u32,
    /// Where it stands now.
    status: CampaignStatusView,
    /// Version of the campaign stream (its ETag).
    version: u64,
}

/// Where a campaign stands, as the API names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub(crate) enum CampaignStatusView {
    /// Before `starts_at`: orders are refused as not started.
    Scheduled,
    /// Buyers may order.
    Running,
    /// After `ends_at`, or ended by the seller: orders are refused, the unsold units are back
    /// on the SKU.
    Ended,
}

impl From<CampaignStatus> for CampaignStatusView {
    fn from(status: CampaignStatus) -> Self {
        match status {
            CampaignStatus::Scheduled => Self::Scheduled,
            CampaignStatus::Running => Self::Running,
            CampaignStatus::Ended => Self::Ended,
        }
    }
}

fn time_text(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

impl CampaignView {
    fn of(state: &CampaignState) -> Result<Self, Problem> {
        let details = state
            .campaign
            .details()
            .ok_or_else(|| domain::CampaignError::NotFound.to_problem())?;
        Ok(Self {
            campaign_id: details.campaign_id.to_string(),
            sku: details.sku.to_string(),
            starts_at: time_text(details.starts_at),
            ends_at: time_text(state.campaign.ends_at().unwrap_or(details.ends_at)),
            price_cents: details.price.minor(),
            stock: details.stock,
            remaining: state.remaining,
            limit_per_buyer: details.limit_per_buyer.get(),
            status: state.status.into(),
            version: state.version,
        })
    }
}

fn time_field(name: &str, text: &str) -> Result<DateTime<Utc>, Problem> {
    DateTime::parse_from_rfc3339(text)
        .map(|at| at.with_timezone(&Utc))
        .map_err(|err| Problem::invalid_field(name, format!("not an RFC 3339 time: {err}")))
}

fn campaign_path(id: &str) -> Result<CampaignId, Problem> {
    // an id that cannot be a campaign's is one never issued
    CampaignId::parse(id).map_err(|_| domain::CampaignError::NotFound.to_problem())
}

/// Creates a campaign: its stock is taken from the SKU now. With an `Idempotency-Key`, a
/// retry answers with the campaign the first request created.
#[utoipa::path(
    request_body(content = CreateCampaignRequest, example = json!({"sku": "tea-500g",
        "starts_at": "2026-12-05T10:00:00Z", "ends_at": "2026-12-05T11:00:00Z",
        "price_cents": 999, "stock": 100, "limit_per_buyer": 1})),
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry answer the first result")),
    responses(
        (status = 201, description = "Created", body = CampaignView),
        (status = 200, description = "Created before with this Idempotency-Key", body = CampaignView),
        (status = 404, description = "No such SKU of this seller", body = Problem),
        (status = 409, description = "The SKU has fewer units available (`out-of-stock`)", body = Problem),
        (status = 422, description = "A field is invalid", body = Problem)
    ),
    security(("bearer" = [])),
    tag = "seller"
)]
#[post("/v1/campaigns")]
pub(crate) async fn create_campaign(
    state: web::Data<AppState>,
    principal: Principal,
    req: HttpRequest,
    body: web::Json<CreateCampaignRequest>,
) -> Result<HttpResponse, Problem> {
    let new = NewCampaign {
        seller: seller_of(&principal)?,
        sku: field("sku", SkuId::parse(&body.sku))?,
        starts_at: body
            .starts_at
            .as_deref()
            .map(|text| time_field("starts_at", text))
            .transpose()?,
        ends_at: time_field("ends_at", &body.ends_at)?,
        price: field("price_cents", domain::unit_price(body.price_cents))?,
        stock: body.stock,
        limit_per_buyer: field("limit_per_buyer", Quantity::new(body.limit_per_buyer))?,
    };
    let key = idempotency_key(&req)?;
    let meta = metadata(&req, &principal, None);
    let created = state
        .services
        .campaigns
        .create(new, key.as_deref(), &meta)
        .await
        .map_err(|err| err.to_problem())?;
    let status = if created.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(versioned(
        status,
        created.version,
        &CampaignView::of(&created)?,
    ))
}

/// The seller's campaigns, oldest first.
#[utoipa::path(
    responses((status = 200, description = "The seller's campaigns", body = [CampaignView])),
    security(("bearer" = [])),
    tag = "seller"
)]
#[get("/v1/campaigns")]
pub(crate) async fn list_campaigns(
    state: web::Data<AppState>,
    principal: Principal,
) -> Result<HttpResponse, Problem> {
    let seller = seller_of(&principal)?;
    let campaigns = state
        .services
        .campaigns
        .list(&seller)
        .await
        .map_err(|err| err.to_problem())?;
    let views = campaigns
        .iter()
        .map(CampaignView::of)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(HttpResponse::Ok().json(views))
}

/// A campaign: any authenticated caller.
#[utoipa::path(
    params(("id" = String, Path, description = "Campaign id")),
    responses(
        (status = 200, description = "The campaign", body = CampaignView),
        (status = 404, description = "No such campaign (`campaign-not-found`)", body = Problem)
    ),
    security(("bearer" = [])),
    tag = "catalogue"
)]
#[get("/v1/campaigns/{id}")]
pub(crate) async fn get_campaign(
    state: web::Data<AppState>,
    known: web::Data<KnownIds>,
    _principal: Principal,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let id = campaign_path(&path)?;
    if !known.may_exist(CAMPAIGN, id.as_str()) {
        return Err(domain::CampaignError::NotFound.to_problem());
    }
    let campaign = state
        .services
        .campaigns
        .get(&id)
        .await
        .map_err(|err| err.to_problem())?;
    Ok(versioned(
        StatusCode::OK,
        campaign.version,
        &CampaignView::of(&campaign)?,
    ))
}

/// Ends the seller's campaign now: orders are refused from now on and the units left go
/// back to the SKU. Ending it again answers the same.
#[utoipa::path(
    params(("id" = String, Path, description = "Campaign id")),
    responses(
        (status = 200, description = "Ended", body = CampaignView),
        (status = 404, description = "No such campaign of this seller (`campaign-not-found`)", body = Problem)
    ),
    security(("bearer" = [])),
    tag = "seller"
)]
#[post("/v1/campaigns/{id}/end")]
pub(crate) async fn end_campaign(
    state: web::Data<AppState>,
    principal: Principal,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let seller = seller_of(&principal)?;
    let id = campaign_path(&path)?;
    let meta = metadata(&req, &principal, None);
    let ended = state
        .services
        .campaigns
        .end(&seller, &id, &meta)
        .await
        .map_err(|err| err.to_problem())?;
    Ok(versioned(
        StatusCode::OK,
        ended.version,
        &CampaignView::of(&ended)?,
    ))
}
