//! RFC 7807 problem details: the one shape of every error answer, with a stable `type` from
//! the one table of kinds ([`types`]).

mod types;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use event_store::ErrorChain;
use serde::Serialize;

pub use types::{PROBLEM_TYPES_PATH, ProblemType};

/// `Retry-After` of a 503 for a database that cannot be reached.
const UNAVAILABLE_RETRY_AFTER_SECS: u64 = 1;

/// An error answer: `application/problem+json` with a stable `type` per kind of problem.
/// 5xx bodies are opaque; their cause goes to the log.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// Stable identifier of the kind of problem, e.g. `/problems/product-changed`.
    #[serde(rename = "type")]
    #[schema(schema_with = ProblemType::uri_schema)]
    pub problem_type: String,
    /// Short summary of the kind of problem.
    pub title: String,
    /// HTTP status.
    pub status: u16,
    /// What happened in this case.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The request field at fault, for validation problems.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Seconds to wait before retrying (sent as `Retry-After`).
    #[serde(skip)]
    pub retry_after_secs: Option<u64>,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.title, self.status)?;
        if let Some(detail) = &self.detail {
            write!(f, ": {detail}")?;
        }
        Ok(())
    }
}

impl Problem {
    /// A problem of kind `kind`, with its status and title.
    pub fn new(kind: ProblemType) -> Self {
        Self {
            problem_type: kind.uri(),
            title: kind.title().to_owned(),
            status: kind.status().as_u16(),
            detail: None,
            field: None,
            retry_after_secs: None,
        }
    }

    /// Asks the client to retry after `secs` (the `Retry-After` header).
    #[must_use]
    pub fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after_secs = Some(secs);
        self
    }

    /// Adds what happened in this case.
    #[must_use]
    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// Names the request field at fault.
    #[must_use]
    pub fn field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// 400: the body is not valid JSON or not of the expected shape.
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(ProblemType::BadRequest).detail(detail)
    }

    /// 422: a field has a value outside its rules.
    pub fn invalid_field(field: &str, detail: impl Into<String>) -> Self {
        Self::new(ProblemType::InvalidField)
            .field(field)
            .detail(detail)
    }

    /// 401: no valid bearer token.
    pub fn unauthorized() -> Self {
        Self::new(ProblemType::Unauthorized)
    }

    /// 403: the caller may not do this.
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(ProblemType::Forbidden).detail(detail)
    }

    /// 404: no such resource, or not the caller's.
    pub fn not_found(what: &str) -> Self {
        Self::new(ProblemType::NotFound).detail(format!("no such {what}"))
    }

    /// 412: `If-Match` names a version that is no longer current.
    pub fn version_mismatch(current: u64) -> Self {
        Self::new(ProblemType::VersionMismatch).detail(format!(
            "the current version is {current}; reload and retry"
        ))
    }

    /// 422: an `Idempotency-Key` already used for another request.
    pub fn key_reused() -> Self {
        Self::new(ProblemType::IdempotencyKeyReused)
            .detail("a retry must repeat the first request exactly; a new request needs a new key")
    }

    /// 503 for contention that outlasted the bounded retries.
    pub fn busy() -> Self {
        Self::new(ProblemType::Busy)
    }

    /// 503: the view has not caught up with the version asked for within the wait.
    pub fn not_caught_up(min_version: u64, retry_after_secs: u64) -> Self {
        Self::new(ProblemType::ViewBehind)
            .detail(format!(
                "version {min_version} is not in the view yet; retry shortly"
            ))
            .retry_after(retry_after_secs)
    }

    /// 503: the database cannot be reached now; retry after a moment.
    pub fn unavailable() -> Self {
        Self::new(ProblemType::Unavailable).retry_after(UNAVAILABLE_RETRY_AFTER_SECS)
    }

    /// 503: the stream's gene is fenced off the database this node routed it to, and no
    /// newer shard map arrived within the bounded wait (ADR 42).
    pub fn gene_moving(gene: u16) -> Self {
        Self::new(ProblemType::GeneMoving)
            .detail(format!(
                "partition {gene} is moving to another database; retry shortly"
            ))
            .retry_after(UNAVAILABLE_RETRY_AFTER_SECS)
    }

    /// The answer for a failure of the store: 503 when the database cannot be reached (a
    /// fault, logged as a warning) or the stream's gene is moving, else 500.
    pub fn store(err: &event_store::StoreError) -> Self {
        if let event_store::StoreError::Moved { gene, map_version } = err {
            tracing::warn!(
                gene,
                map_version,
                "a fenced gene outlasted the wait for a new map"
            );
            return Self::gene_moving(*gene);
        }
        if err.is_unavailable() {
            tracing::warn!(error = %ErrorChain(err), "the database is unavailable");
            return Self::unavailable();
        }
        Self::internal(err)
    }

    /// 500 with an opaque body; the cause is logged here.
    pub fn internal(cause: &(dyn std::error::Error + 'static)) -> Self {
        tracing::error!(error = %ErrorChain(cause), "internal error");
        Self::new(ProblemType::Internal)
    }
}

impl ResponseError for Problem {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        if let Some(secs) = self.retry_after_secs {
            response.insert_header((actix_web::http::header::RETRY_AFTER, secs.to_string()));
        }
        response.content_type("application/problem+json").json(self)
    }
}

impl From<projections::ProjectionError> for Problem {
    fn from(err: projections::ProjectionError) -> Self {
        match &err {
            projections::ProjectionError::Store(store) => Self::store(store),
            projections::ProjectionError::Database(db) if event_store::unavailable(db) => {
                tracing::warn!(error = %ErrorChain(&err), "the database is unavailable");
                Self::unavailable()
            }
            _ => Self::internal(&err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A command still fenced off its gene after the bounded wait is a 503 of its own type,
    /// with Retry-After: the client retries, by then on the new shard.
    #[test]
    fn a_gene_still_moving_after_the_wait_is_a_503_with_retry_after() {
        let problem = Problem::store(&event_store::StoreError::Moved {
            gene: 889,
            map_version: 4,
        });
        assert_eq!(problem.problem_type, "/problems/gene-moving");
        assert_eq!(problem.status, 503);
        assert_eq!(problem.retry_after_secs, Some(UNAVAILABLE_RETRY_AFTER_SECS));
    }
}
