//! Small pieces every route uses, command and query alike: field parsing with the field
//! named, `If-Match`, ETags and `If-None-Match`, idempotency keys and event metadata.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse};
use event_store::EventMetadata;
use serde::Serialize;

use crate::access::RequestId;
use crate::auth::Principal;
use crate::limits::IDEMPOTENCY_KEY_LEN_MAX;
use crate::problem::{Problem, ProblemType};

/// Parses a request field, answering 422 with the field named when it is invalid.
pub fn field<T, E: std::fmt::Display>(name: &str, parsed: Result<T, E>) -> Result<T, Problem> {
    parsed.map_err(|err| Problem::invalid_field(name, err.to_string()))
}

/// The version in `If-Match` (`"3"`, `3` or `W/"3"`), if the header is present.
pub fn if_match(req: &HttpRequest) -> Result<Option<u64>, Problem> {
    let Some(value) = req.headers().get(header::IF_MATCH) else {
        return Ok(None);
    };
    let text = value
        .to_str()
        .map_err(|_| Problem::bad_request("If-Match is not text"))?
        .trim();
    let text = text.strip_prefix("W/").unwrap_or(text).trim_matches('"');
    text.parse()
        .map(Some)
        .map_err(|_| Problem::bad_request("If-Match must be a version such as \"3\""))
}

/// The version in `If-Match`, which updates must send (428 without it).
pub fn required_if_match(req: &HttpRequest) -> Result<u64, Problem> {
    if_match(req)?.ok_or_else(|| {
        Problem::new(ProblemType::IfMatchRequired)
            .detail("send the order's current version (its ETag) in If-Match")
    })
}

/// The client's `Idempotency-Key`, if any.
pub fn idempotency_key(req: &HttpRequest) -> Result<Option<String>, Problem> {
    let Some(value) = req.headers().get("Idempotency-Key") else {
        return Ok(None);
    };
    match value.to_str() {
        Ok(key) if !key.is_empty() && key.len() <= IDEMPOTENCY_KEY_LEN_MAX => {
            Ok(Some(key.to_owned()))
        }
        _ => Err(Problem::bad_request(format!(
            "Idempotency-Key must be 1 to {IDEMPOTENCY_KEY_LEN_MAX} visible characters"
        ))),
    }
}

/// Metadata for the events of a command from `principal` in request `req`: its id (see
/// [`RequestId`]) and its `X-Correlation-Id`, or the id when it has none. The correlation id
/// was checked against [`crate::limits::CORRELATION_ID_LEN_MAX`] when the request came in.
pub fn metadata(
    req: &HttpRequest,
    principal: &Principal,
    dedup_key: Option<String>,
) -> EventMetadata {
    let request_id = RequestId::of(req).map(|id| id.as_str().to_owned());
    let correlation_id = req
        .headers()
        .get("X-Correlation-Id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| request_id.clone());
    EventMetadata {
        dedup_key,
        actor: Some(principal.actor()),
        correlation_id,
        causation_id: None,
        request_id,
        request_digest: None,
    }
}

/// The ETag of a resource at `version`: the command answers' and the queries' alike.
pub fn etag(version: u64) -> String {
    format!("\"{version}\"")
}

/// A JSON answer carrying the resource's version as its ETag.
pub fn versioned<T: Serialize>(status: StatusCode, version: u64, body: &T) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::ETAG, etag(version)))
        .json(body)
}

/// 200 with `body` and `etag`, or 304 when the request's `If-None-Match` names it.
pub fn tagged<T: Serialize>(req: &HttpRequest, etag: String, body: &T) -> HttpResponse {
    let matches = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|tag| tag.trim() == etag || tag.trim() == "*")
        });
    if matches {
        HttpResponse::NotModified()
            .insert_header((header::ETAG, etag))
            .finish()
    } else {
        HttpResponse::Ok()
            .insert_header((header::ETAG, etag))
            .json(body)
    }
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    #[test]
    fn if_match_accepts_quoted_bare_and_weak_versions() {
        for header in ["\"3\"", "3", "W/\"3\""] {
            let req = TestRequest::default()
                .insert_header(("If-Match", header))
                .to_http_request();
            assert_eq!(if_match(&req).unwrap(), Some(3), "{header}");
        }
        let none = TestRequest::default().to_http_request();
        assert_eq!(if_match(&none).unwrap(), None);
        assert!(required_if_match(&none).is_err());
        let bad = TestRequest::default()
            .insert_header(("If-Match", "\"abc\""))
            .to_http_request();
        assert!(if_match(&bad).is_err());
    }
}
