//! `GET /v1/skus/{sku}/stock`.

use actix_web::{HttpRequest, HttpResponse, get, web};
use serde::Deserialize;
use utoipa::IntoParams;

use projections::{ReadModels, StockRow};

use super::{min_version, read_at_least};
use crate::auth::Principal;
use crate::http::{etag, tagged};
use crate::known_ids::{KnownIds, SKU};
use crate::problem::Problem;

/// Parameters of `GET /v1/skus/{sku}/stock`.
#[derive(Debug, Deserialize, IntoParams)]
pub(crate) struct StockQuery {
    /// Wait (bounded) until the view holds at least this version of the SKU's stock stream.
    /// Also `X-Min-Version`.
    min_version: Option<u64>,
}

/// A SKU's stock from the stock view: any authenticated caller.
#[utoipa::path(
    params(("sku" = String, Path, description = "SKU"), StockQuery),
    responses(
        (status = 200, description = "The stock (ETag: the SKU stream's version)", body = StockRow),
        (status = 304, description = "Not modified since the ETag in If-None-Match"),
        (status = 404, description = "No such SKU", body = Problem),
        (status = 503, description = "The view did not reach min_version in time (Retry-After)", body = Problem)
    ),
    security(("bearer" = [])),
    tag = "queries"
)]
#[get("/v1/skus/{sku}/stock")]
pub(crate) async fn get_stock(
    req: HttpRequest,
    models: web::Data<ReadModels>,
    known: web::Data<KnownIds>,
    _caller: Principal,
    path: web::Path<String>,
    query: web::Query<StockQuery>,
) -> Result<HttpResponse, Problem> {
    let sku =
        domain::SkuId::parse(&path).map_err(|e| Problem::invalid_field("sku", e.to_string()))?;
    let wanted = min_version(&req, query.min_version)?;
    let row = read_at_least(
        wanted,
        |s: &StockRow| s.version,
        || async {
            // a SKU the log does not know is absent without a read
            if !known.may_exist(SKU, sku.as_str()) {
                return Ok(None);
            }
            models.stock(sku.as_str()).await
        },
    )
    .await?
    .ok_or_else(|| Problem::not_found("SKU"))?;
    Ok(tagged(&req, etag(row.version), &row))
}
