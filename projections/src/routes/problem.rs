//! RFC 7807 answers of the query API, in the same shape and `type`s as the command API's.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::error::ProjectionError;

/// An error answer: `application/problem+json` with a stable `type`. 5xx bodies are opaque;
/// their cause goes to the log.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct QueryProblem {
    /// Stable identifier of the kind of problem, e.g. `/problems/not-found`.
    #[serde(rename = "type")]
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
    /// Seconds to wait before retrying (sent as `Retry-After` too).
    #[serde(skip)]
    pub retry_after_secs: Option<u64>,
}

impl std::fmt::Display for QueryProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.title, self.status)
    }
}

impl QueryProblem {
    fn new(status: StatusCode, slug: &str, title: &str) -> Self {
        Self {
            problem_type: format!("/problems/{slug}"),
            title: title.to_owned(),
            status: status.as_u16(),
            detail: None,
            field: None,
            retry_after_secs: None,
        }
    }

    /// 422: a field has a value outside its rules.
    pub fn invalid_field(field: &str, detail: impl Into<String>) -> Self {
        let mut problem = Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-field",
            "Invalid field",
        );
        problem.field = Some(field.to_owned());
        problem.detail = Some(detail.into());
        problem
    }

    /// 401: no valid bearer token.
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "A valid bearer token is required",
        )
    }

    /// 403: the caller may not do this.
    pub fn forbidden(detail: impl Into<String>) -> Self {
        let mut problem = Self::new(StatusCode::FORBIDDEN, "forbidden", "Forbidden");
        problem.detail = Some(detail.into());
        problem
    }

    /// 404: no such resource, or not the caller's.
    pub fn not_found(what: &str) -> Self {
        let mut problem = Self::new(StatusCode::NOT_FOUND, "not-found", "Not found");
        problem.detail = Some(format!("no such {what}"));
        problem
    }

    /// 503: the view has not caught up with the version asked for within the wait.
    pub fn not_caught_up(min_version: u64, retry_after_secs: u64) -> Self {
        let mut problem = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "view-behind",
            "The view has not caught up yet",
        );
        problem.detail = Some(format!(
            "version {min_version} is not in the view yet; retry shortly"
        ));
        problem.retry_after_secs = Some(retry_after_secs);
        problem
    }

    /// 500 with an opaque body; the cause is logged here.
    pub fn internal(cause: &ProjectionError) -> Self {
        tracing::error!(error = %crate::ErrorChain(cause), "query failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Internal error",
        )
    }
}

impl From<ProjectionError> for QueryProblem {
    fn from(err: ProjectionError) -> Self {
        Self::internal(&err)
    }
}

impl ResponseError for QueryProblem {
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
