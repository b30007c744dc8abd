//! What happens to every request at the edge, before and after its route: it gets its id
//! (`X-Request-Id`: the client's when sane, else a new one), runs in a span carrying that id,
//! and is counted in the metrics and written to the access log when answered; the answer,
//! errors included, carries the id back.
//!
//! The access log is one line per answer, at target [`ACCESS_TARGET`]: info level, but debug
//! for a client error (4xx), which is the client's business, so that a flood of bad requests
//! does not flood the log. `RUST_LOG=info,orders::access=off` turns it off;
//! `orders::access=debug` shows the client errors too. Requests that are not HTTP at all
//! never reach the application: actix answers them 400 without an id or a line.

use std::future::Future;
use std::rc::Rc;
use std::time::{Duration, Instant};

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::{Error, HttpMessage, HttpRequest, web};
use tracing::Instrument;

use crate::limits::REQUEST_ID_LEN_MAX;
use crate::metrics::{Metrics, RouteLabels};

/// The header that carries a request's id, in and out.
pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");
/// The tracing target of the access log.
pub const ACCESS_TARGET: &str = "orders::access";

/// A request's id: the client's `X-Request-Id` when it is 1 to [`REQUEST_ID_LEN_MAX`]
/// visible ASCII characters, else a new UUID. It goes into the metadata of the events the
/// request writes (`request_id`), its log lines and its answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestId(String);

impl RequestId {
    /// The client's id in `header` when it is sane, else a new one: a malformed id is
    /// replaced rather than refused, as a request id is the client's aid, not its input.
    pub fn from_client(header: Option<&HeaderValue>) -> Self {
        header
            .map(HeaderValue::as_bytes)
            .filter(|id| crate::limits::is_visible_ascii(id, REQUEST_ID_LEN_MAX))
            .map(|id| Self(String::from_utf8_lossy(id).into_owned()))
            .unwrap_or_else(Self::generate)
    }

    /// A new id.
    pub fn generate() -> Self {
        Self(uuid::Uuid::new_v4().to_string())
    }

    /// The id of request `req`, as the edge gave it.
    pub fn of(req: &HttpRequest) -> Option<Self> {
        req.extensions().get::<Self>().cloned()
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What the edge of one HTTP worker keeps: the metrics it counts requests in and the route
/// labels it has looked up.
pub(crate) struct Edge {
    metrics: web::Data<Metrics>,
    routes: RouteLabels,
}

impl Edge {
    /// The edge of a worker counting in `metrics`.
    pub(crate) fn new(metrics: web::Data<Metrics>) -> Rc<Self> {
        Rc::new(Self {
            metrics,
            routes: RouteLabels::default(),
        })
    }
}

/// Runs `req` through `srv` as described in the module's documentation (for `wrap_fn`, as the
/// outermost layer, so that every answer passes it).
pub(crate) fn serve<S, B>(
    req: ServiceRequest,
    srv: &S,
    edge: &Rc<Edge>,
) -> impl Future<Output = Result<ServiceResponse<B>, Error>> + use<S, B>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error>,
    B: MessageBody,
{
    let started = Instant::now();
    let id = RequestId::from_client(req.headers().get(REQUEST_ID_HEADER));
    req.extensions_mut().insert(id.clone());
    let method = req.method().clone();
    let route = edge.routes.of(req.path(), || req.match_pattern());
    let span = tracing::info_span!(
        "HTTP request",
        http.method = %method,
        http.route = %route,
        request_id = %id,
    );
    let answer = span.in_scope(|| srv.call(req));
    let edge = Rc::clone(edge);
    async move {
        let mut answer = answer.instrument(span).await;
        // every layer inside answers its errors; an error that still gets here is answered by
        // actix, without the id (the request is gone with it), but counted and logged
        let status = match &mut answer {
            Ok(res) => {
                // both kinds of id are visible ASCII, which a header value always takes
                if let Ok(value) = HeaderValue::from_str(id.as_str()) {
                    res.headers_mut().insert(REQUEST_ID_HEADER, value);
                }
                res.status()
            }
            Err(err) => err.as_response_error().status_code(),
        };
        let took = started.elapsed();
        let metrics = &edge.metrics;
        metrics
            .http_requests
            .with_label_values(&[method.as_str(), &route, status.as_str()])
            .inc();
        metrics
            .http_latency
            .with_label_values(&[method.as_str(), &route])
            .observe(took.as_secs_f64());
        log_access(&method, &route, status, took, &id);
        answer
    }
}

/// The access log's line for one answer.
fn log_access(method: &Method, route: &str, status: StatusCode, took: Duration, id: &RequestId) {
    macro_rules! line {
        ($level:ident) => {
            tracing::$level!(
                target: ACCESS_TARGET,
                method = %method,
                route,
                status = status.as_u16(),
                duration_ms = took.as_secs_f64() * 1_000.0,
                request_id = %id,
                "answered"
            )
        };
    }
    if status.is_client_error() {
        line!(debug);
    } else {
        line!(info);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(bytes: &[u8]) -> RequestId {
        RequestId::from_client(Some(&HeaderValue::from_bytes(bytes).unwrap()))
    }

    #[test]
    fn a_sane_client_id_is_kept() {
        let longest = "r".repeat(REQUEST_ID_LEN_MAX);
        for id in ["req-1", "client:7f3a/~!", longest.as_str()] {
            assert_eq!(from(id.as_bytes()).as_str(), id);
        }
    }

    #[test]
    fn a_missing_or_malformed_client_id_is_replaced_by_a_new_one() {
        let too_long = "r".repeat(REQUEST_ID_LEN_MAX + 1);
        let malformed: [&[u8]; 4] = [b"", b"two words", b"caf\xc3\xa9", too_long.as_bytes()];
        let mut ids: Vec<RequestId> = malformed.iter().map(|bad| from(bad)).collect();
        ids.push(RequestId::from_client(None));
        for (n, id) in ids.iter().enumerate() {
            assert_eq!(id.as_str().len(), 36, "{id}");
            assert!(ids[n + 1..].iter().all(|other| other != id), "{id} twice");
        }
    }
}
