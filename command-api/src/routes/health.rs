//! Liveness, readiness and metrics.

use actix_web::{HttpResponse, get, web};

use crate::metrics::Metrics;
use crate::state::AppState;

/// Liveness: the process answers.
#[utoipa::path(responses((status = 200, description = "The process is alive")), tag = "operations")]
#[get("/healthz")]
pub(crate) async fn healthz() -> HttpResponse {
    HttpResponse::Ok().body("ok")
}

/// Readiness: the event store answers.
#[utoipa::path(
    responses(
        (status = 200, description = "Ready to serve"),
        (status = 503, description = "The event store does not answer")
    ),
    tag = "operations"
)]
#[get("/readyz")]
pub(crate) async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    match state.store.ping().await {
        Ok(()) => HttpResponse::Ok().body("ready"),
        Err(err) => {
            tracing::warn!(error = %err, "not ready");
            HttpResponse::ServiceUnavailable().body("event store unavailable")
        }
    }
}

/// Prometheus metrics in the text exposition format.
#[utoipa::path(responses((status = 200, description = "Metrics")), tag = "operations")]
#[get("/metrics")]
pub(crate) async fn metrics(metrics: web::Data<Metrics>) -> HttpResponse {
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
