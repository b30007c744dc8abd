//! `GET /v1/ops/status`: the followers of the log, their lag, holders and dead letters.

use actix_web::{HttpResponse, get, web};

use crate::auth::{Principal, Role};
use crate::problem::Problem;
use crate::state::AppState;
use crate::status::{self, Status};

/// Every projection, reaction and the relay with its position, lag, the node holding it and
/// its dead letters; the other leases; the log's head and the oldest running transactions
/// (the same report as `orders status`). For the ops role.
#[utoipa::path(
    responses(
        (status = 200, description = "The report", body = Status),
        (status = 401, description = "No valid bearer token", body = Problem),
        (status = 403, description = "Not the ops role", body = Problem)
    ),
    security(("bearer" = [])),
    tag = "operations"
)]
#[get("/v1/ops/status")]
pub(crate) async fn get_status(
    state: web::Data<AppState>,
    caller: Principal,
) -> Result<HttpResponse, Problem> {
    caller.require(Role::Ops)?;
    Ok(HttpResponse::Ok().json(status::status_of_every(&state.stores).await?))
}
