//! Liveness, readiness and metrics.

use actix_web::{HttpResponse, ResponseError, get, web};

use std::time::Duration;

use event_store::ErrorChain;

use crate::metrics::Metrics;
use crate::problem::Problem;
use crate::roles::Role;
use crate::state::AppState;

/// Liveness: the process answers.
#[utoipa::path(responses((status = 200, description = "The process is alive")), tag = "operations")]
#[get("/healthz")]
pub(crate) async fn healthz() -> HttpResponse {
    HttpResponse::Ok().body("ok")
}

/// Longest `/readyz` waits for the event store before it answers 503.
const READINESS_ANSWER_MS: u64 = 1_000;

/// What `/readyz` answers: whether the node is ready, the roles it plays and the leases it
/// holds (the followers of the log running here).
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct Readiness {
    /// `ready` (when the event store does not answer, the answer is a 503 problem).
    #[schema(schema_with = ready_schema)]
    status: &'static str,
    /// The node's roles (`api`, `projector`, `reactor`, `relay`, `timer`).
    roles: Vec<&'static str>,
    /// The leases this node holds: `projection:<name>`, `reaction:<name>`, `relay`, …
    leases: Vec<String>,
}

/// The one value of [`Readiness::status`].
const READY: &str = "ready";

/// The OpenAPI schema of [`Readiness::status`].
fn ready_schema() -> utoipa::openapi::schema::Object {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some([READY]))
        .description(Some(
            "`ready` (when the event store does not answer, the answer is a 503 problem)",
        ))
        .build()
}

/// Readiness: the event store answers (within a second); with the node's roles and leases.
#[utoipa::path(
    responses(
        (status = 200, description = "Ready to serve", body = Readiness),
        (status = 503, description = "The event store does not answer", body = Problem)
    ),
    tag = "operations"
)]
#[get("/readyz")]
pub(crate) async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let answer = Duration::from_millis(READINESS_ANSWER_MS);
    let ready = match tokio::time::timeout(answer, state.store.ping()).await {
        Ok(Ok(())) => true,
        Ok(Err(err)) => {
            tracing::warn!(error = %ErrorChain(&err), "not ready");
            false
        }
        Err(_) => {
            tracing::warn!("not ready: the event store did not answer in time");
            false
        }
    };
    if !ready {
        return Problem::unavailable().error_response();
    }
    HttpResponse::Ok().json(Readiness {
        status: READY,
        roles: state.settings.roles.iter().map(Role::name).collect(),
        leases: state.leases.held(),
    })
}

/// Prometheus metrics in the text exposition format.
#[utoipa::path(responses((status = 200, description = "Metrics")), tag = "operations")]
#[get("/metrics")]
pub(crate) async fn metrics(
    metrics: web::Data<Metrics>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let answer = Duration::from_millis(READINESS_ANSWER_MS);
    // best effort: the scrape is answered whether the database answers or not
    if let Ok(Ok(Some(ages))) = tokio::time::timeout(answer, state.store.transaction_ages()).await {
        metrics
            .log_oldest_append
            .set(ages.oldest_append_secs.unwrap_or(0.0));
        metrics
            .postgres_oldest_writer
            .set(ages.oldest_writer_secs.unwrap_or(0.0));
    }
    metrics.observe_pool(&state.store);
    match metrics.render() {
        Ok(text) => HttpResponse::Ok()
            .content_type("text/plain; version=0.0.4")
            .body(text),
        Err(err) => {
            tracing::error!(error = %err, "rendering metrics failed");
            HttpResponse::InternalServerError().finish()
        }
    }
}
