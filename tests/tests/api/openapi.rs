//! The OpenAPI document against the answers the application gives: every status an operation
//! can answer is documented, with the media type it is sent as. `scripts/fuzz` checks the same
//! over many generated requests; these tests keep what it found fixed.

use reqwest::Method;
use serde_json::Value;

use crate::helpers::TestApp;

const PROBLEM_REF: &str = "#/components/schemas/Problem";

/// The answers the machinery around the routes gives, whatever the route: a malformed header
/// (400), no token or the wrong role (401, 403), a body too large (413), a field that does not
/// parse (422), the database out of reach (503 with Retry-After). Every operation that can
/// meet one documents it, and every problem answer is declared as `application/problem+json`.
pub async fn every_operation_documents_the_answers_its_machinery_gives(app: TestApp) {
    let doc = app.openapi().await;
    for (path, operations) in doc["paths"].as_object().unwrap() {
        for (method, operation) in operations.as_object().unwrap() {
            let name = format!("{method} {path}");
            let responses = operation["responses"].as_object().unwrap();
            let documents = |status: &str| {
                assert!(responses.contains_key(status), "{name} lacks {status}");
            };
            documents("400");
            let bearer = operation["security"]
                .as_array()
                .is_some_and(|schemes| schemes.iter().any(|s| s.get("bearer").is_some()));
            if bearer {
                documents("401");
                documents("403");
            }
            let has_body = operation.get("requestBody").is_some();
            if has_body {
                documents("413");
            }
            let parses_fields = has_body
                || operation["parameters"].as_array().is_some_and(|params| {
                    params
                        .iter()
                        .any(|p| p["in"] == "path" || p["in"] == "query")
                });
            if parses_fields {
                documents("422");
            }
            if path.starts_with("/v1/") {
                documents("503");
                assert!(
                    responses["503"]["headers"]["Retry-After"].is_object(),
                    "{name}: 503 without Retry-After"
                );
            }
            for (status, answer) in responses {
                let Some(content) = answer["content"].as_object() else {
                    continue;
                };
                for (media_type, media) in content {
                    let is_problem = media["schema"]["$ref"] == PROBLEM_REF;
                    assert_eq!(
                        is_problem,
                        media_type == "application/problem+json",
                        "{name} {status} declares {media_type}"
                    );
                }
            }
        }
    }
}

/// A request that the application answers with an error, and the operation it is sent to.
struct Probe<'a> {
    /// What the request does wrong.
    why: &'a str,
    method: Method,
    /// The operation's path in the document.
    template: &'a str,
    path: &'a str,
    token: Option<&'a str>,
    if_match: Option<&'a str>,
    body: Vec<u8>,
}

/// Error answers of the kinds the fuzzer met undocumented: each status is in the document for
/// its operation, and its Content-Type is the one the document declares.
pub async fn error_answers_are_documented_with_their_media_type(app: TestApp) {
    let doc = app.openapi().await;
    let buyer = app.buyer("b-1");
    let seller = app.seller();
    let probe = |why, method, template, path, token, body: &[u8]| Probe {
        why,
        method,
        template,
        path,
        token,
        if_match: None,
        body: body.to_vec(),
    };
    let probes = [
        probe("no token", Method::GET, "/v1/cart", "/v1/cart", None, b""),
        Probe {
            if_match: Some("\"1\""),
            ..probe(
                "no such order",
                Method::POST,
                "/v1/orders/{order_id}/ship",
                "/v1/orders/1/ship",
                Some(&seller),
                b"{}",
            )
        },
        probe(
            "the wrong role",
            Method::POST,
            "/v1/products",
            "/v1/products",
            Some(&buyer),
            b"{}",
        ),
        probe(
            "not JSON of the shape",
            Method::PUT,
            "/v1/cart/items/{sku}",
            "/v1/cart/items/tea",
            Some(&buyer),
            b"[]",
        ),
        probe(
            "a path parameter that does not parse",
            Method::DELETE,
            "/v1/cart/items/{sku}",
            "/v1/cart/items/no%20spaces",
            Some(&buyer),
            b"",
        ),
        probe(
            "an update without If-Match",
            Method::POST,
            "/v1/orders/{order_id}/confirm-receipt",
            "/v1/orders/1/confirm-receipt",
            Some(&buyer),
            b"",
        ),
        probe(
            "an unsigned payment notification",
            Method::POST,
            "/v1/payments/notify",
            "/v1/payments/notify",
            None,
            b"{}",
        ),
        // last: the server closes the connection after answering without reading the body
        probe(
            "a body too large",
            Method::POST,
            "/v1/orders/{order_id}/refunds",
            "/v1/orders/1/refunds",
            Some(&buyer),
            &[b' '; 300 * 1024],
        ),
    ];
    for probe in probes {
        let mut request = app
            .client
            .request(probe.method.clone(), app.url(probe.path))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(probe.body);
        if let Some(token) = probe.token {
            request = request.bearer_auth(token);
        }
        if let Some(version) = probe.if_match {
            request = request.header("If-Match", version);
        }
        let response = request.send().await.unwrap();
        let (why, status) = (probe.why, response.status());
        assert!(status.is_client_error(), "{why}: {status}");
        let content_type = response.headers()[reqwest::header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .to_owned();
        let method = probe.method.as_str().to_lowercase();
        let documented: &Value =
            &doc["paths"][probe.template][method]["responses"][status.as_str()];
        assert!(documented.is_object(), "{why}: {status} is not documented");
        assert!(
            documented["content"].get(&content_type).is_some(),
            "{why}: {status} sent as {content_type}, documented as {}",
            documented["content"]
        );
    }
}
