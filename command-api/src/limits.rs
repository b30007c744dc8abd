//! Limits on what a client may send, checked at the edge, and the answers beyond them: a body
//! too large is 413, a body or parameter of the wrong shape 400, a field outside its rules 422
//! naming the field; never a 5xx, and always `application/problem+json`.
//!
//! The limits of the domain's values live with their types and are checked where the routes
//! parse them: [`domain::ID_LEN_MAX`] (SKUs, buyer, seller, transaction and refund ids,
//! tracking numbers), [`domain::TITLE_LEN_MAX`], [`domain::Quantity::MAX`],
//! [`domain::UNIT_PRICE_MAX_CENTS`], [`domain::ORDER_ITEMS_MAX`] and
//! [`projections::read_models::ORDER_PAGE_SIZE_MAX`]. The ones of the HTTP layer are here.
//! README.md ("Limits on input") lists them all.

use actix_web::ResponseError;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::ServiceResponse;
use actix_web::error::{JsonPayloadError, PayloadError};
use actix_web::http::StatusCode;
use actix_web::http::header::{CONTENT_TYPE, HeaderMap};
use actix_web::middleware::ErrorHandlerResponse;

use crate::problem::{Problem, ProblemType};

/// Largest request body accepted, JSON or the raw body of a signed payment notification.
pub const JSON_BODY_SIZE_MAX_BYTES: usize = 256 * 1024;
/// Longest accepted `Idempotency-Key`.
pub const IDEMPOTENCY_KEY_LEN_MAX: usize = 128;
/// Longest accepted `X-Correlation-Id`: it is copied into the metadata of every event the
/// request writes, so an unbounded one would grow the log by the client's choice.
pub const CORRELATION_ID_LEN_MAX: usize = 128;
/// Longest `X-Request-Id` kept: a longer (or otherwise malformed) one is replaced by a new id
/// (see [`crate::access::RequestId`]); it goes into the events' metadata as the correlation id
/// does.
pub const REQUEST_ID_LEN_MAX: usize = 128;
/// Highest `min_version` (or `X-Min-Version`) asked for: the log numbers versions as a signed
/// 64-bit integer, so anything above can never be reached and is refused at once instead of
/// waiting for it.
pub const MIN_VERSION_MAX: u64 = i64::MAX.unsigned_abs();
/// Most lines in one refund request: an order has at most this many lines, each refunded at
/// most once per request.
pub const REFUND_ITEMS_MAX: usize = domain::ORDER_ITEMS_MAX;

const PROBLEM_JSON: &str = "application/problem+json";

/// 413: the body is larger than [`JSON_BODY_SIZE_MAX_BYTES`].
pub fn payload_too_large() -> Problem {
    Problem::new(ProblemType::PayloadTooLarge).detail(format!(
        "the body must be at most {JSON_BODY_SIZE_MAX_BYTES} bytes"
    ))
}

/// The answer to a JSON body that could not be read: 413 when too large, 400 otherwise.
pub fn json_body_problem(err: &JsonPayloadError) -> Problem {
    match err {
        JsonPayloadError::Overflow { .. }
        | JsonPayloadError::OverflowKnownLength { .. }
        | JsonPayloadError::Payload(PayloadError::Overflow) => payload_too_large(),
        _ => Problem::bad_request(err.to_string()),
    }
}

/// Checks `X-Correlation-Id`: 1 to [`CORRELATION_ID_LEN_MAX`] visible ASCII characters.
pub fn check_correlation_id(headers: &HeaderMap) -> Result<(), Problem> {
    let Some(value) = headers.get("X-Correlation-Id") else {
        return Ok(());
    };
    if !is_visible_ascii(value.as_bytes(), CORRELATION_ID_LEN_MAX) {
        return Err(Problem::bad_request(format!(
            "X-Correlation-Id must be 1 to {CORRELATION_ID_LEN_MAX} visible ASCII characters"
        )));
    }
    Ok(())
}

/// Whether `bytes` are 1 to `len_max` visible ASCII characters: the rule of the ids a client
/// may send in a header (`X-Correlation-Id`, `X-Request-Id`).
pub fn is_visible_ascii(bytes: &[u8], len_max: usize) -> bool {
    !bytes.is_empty() && bytes.len() <= len_max && bytes.iter().all(u8::is_ascii_graphic)
}

/// Gives the error answers that actix-web writes itself (an unknown route, a wrong method, a
/// raw body over its limit) the one problem shape; problems pass through untouched.
pub fn problem_for_bare_error<B: MessageBody>(
    res: ServiceResponse<B>,
) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let is_problem = res
        .headers()
        .get(CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes() == PROBLEM_JSON.as_bytes());
    if is_problem {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let status = res.status();
    let problem = match status {
        StatusCode::PAYLOAD_TOO_LARGE => payload_too_large(),
        StatusCode::NOT_FOUND => Problem::not_found("route"),
        // what else actix writes itself is a 4xx of the request's shape, or a 5xx
        _ if status.is_server_error() => Problem::new(ProblemType::Internal),
        _ => Problem::new(ProblemType::BadRequest),
    };
    let problem = Problem {
        status: status.as_u16(),
        ..problem
    };
    let (req, res) = res.into_parts();
    let mut answer = problem.error_response();
    // keep what the original answer said about the method or authentication
    for name in [
        actix_web::http::header::ALLOW,
        actix_web::http::header::WWW_AUTHENTICATE,
    ] {
        if let Some(value) = res.headers().get(&name) {
            answer.headers_mut().insert(name, value.clone());
        }
    }
    let answer: actix_web::HttpResponse<EitherBody<B>> = answer.map_into_right_body();
    Ok(ErrorHandlerResponse::Response(ServiceResponse::new(
        req, answer,
    )))
}

#[cfg(test)]
mod tests {
    use actix_web::http::header::HeaderValue;

    use super::*;

    fn with_correlation_id(value: &[u8]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            actix_web::http::header::HeaderName::from_static("x-correlation-id"),
            HeaderValue::from_bytes(value).unwrap(),
        );
        headers
    }

    #[test]
    fn a_correlation_id_is_short_visible_ascii() {
        assert!(check_correlation_id(&HeaderMap::new()).is_ok());
        assert!(check_correlation_id(&with_correlation_id(b"req-1:abc")).is_ok());
        let longest = [b'a'; CORRELATION_ID_LEN_MAX];
        assert!(check_correlation_id(&with_correlation_id(&longest)).is_ok());
        let too_long = [b'a'; CORRELATION_ID_LEN_MAX + 1];
        for bad in [&too_long[..], b"", b"a b", b"caf\xc3\xa9"] {
            assert!(check_correlation_id(&with_correlation_id(bad)).is_err());
        }
    }

    #[test]
    fn min_version_max_is_the_logs_highest_version() {
        assert_eq!(MIN_VERSION_MAX, 9_223_372_036_854_775_807);
    }
}
