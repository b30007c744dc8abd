//! The API's documentation as a client meets it: the Swagger UI page served from the binary
//! (it loads nothing from another host), the pages of the problem types that every error
//! answer's `type` names, a problem for any route that does not exist, and the enums the
//! document gives for statuses.

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::helpers::{NewProduct, TestApp};

const PROBLEM_JSON: &str = "application/problem+json";

/// The values of the `src` and `href` attributes in `html`.
fn links(html: &str) -> Vec<String> {
    let mut found = Vec::new();
    for attribute in ["src=", "href="] {
        for (at, _) in html.match_indices(attribute) {
            let rest = &html[at + attribute.len()..];
            let Some(quote) = rest.chars().next().filter(|c| *c == '"' || *c == '\'') else {
                continue;
            };
            if let Some(end) = rest[1..].find(quote) {
                found.push(rest[1..=end].to_owned());
            }
        }
    }
    found
}

/// `link` as a URL on `app`'s server, relative to `base` (a path ending in `/`); `None` when it
/// names another host.
fn on_this_server(app: &TestApp, base: &str, link: &str) -> Option<String> {
    let own = app.url("/");
    if link.starts_with("http://") || link.starts_with("https://") {
        return link.starts_with(&own).then(|| link.to_owned());
    }
    if link.starts_with("//") {
        return None;
    }
    if let Some(absolute) = link.strip_prefix('/') {
        return Some(app.url(&format!("/{absolute}")));
    }
    Some(app.url(&format!("{base}{}", link.trim_start_matches("./"))))
}

/// `/swagger-ui` (redirected to `/swagger-ui/`) answers the page; every script, style and icon
/// it names is on this server and answers 200; its initializer points at this server's
/// document and sends nothing to swagger.io's validator.
pub async fn the_swagger_ui_loads_everything_from_this_server(app: TestApp) {
    for path in ["/swagger-ui", "/swagger-ui/"] {
        let page = app
            .client
            .get(app.url(path))
            .send()
            .await
            .expect("the server answers");
        assert_eq!(page.status(), StatusCode::OK, "{path}");
        assert_eq!(page.url().path(), "/swagger-ui/", "{path}");
        let html = page.text().await.expect("the page is text");
        let links = links(&html);
        assert!(
            links.iter().any(|l| l.ends_with(".js")) && links.iter().any(|l| l.ends_with(".css")),
            "{links:?}"
        );
        for link in links {
            let url = on_this_server(&app, "/swagger-ui/", &link)
                .unwrap_or_else(|| panic!("{path} loads {link} from another host"));
            let file = app
                .client
                .get(&url)
                .send()
                .await
                .expect("the server answers");
            assert_eq!(file.status(), StatusCode::OK, "{link} ({url})");
        }
    }
    let initializer = app.text("/swagger-ui/swagger-initializer.js").await;
    assert!(
        !initializer.contains("http://") && !initializer.contains("https://"),
        "{initializer}"
    );
    assert!(
        initializer.contains(r#""url": "/openapi.json""#),
        "{initializer}"
    );
    assert!(
        initializer.contains(r#""validatorUrl": "none""#),
        "{initializer}"
    );
}

/// The problem types the document lists, as `Problem.type`'s enum.
fn documented_problem_types(doc: &Value) -> Vec<String> {
    doc["components"]["schemas"]["Problem"]["properties"]["type"]["enum"]
        .as_array()
        .expect("Problem.type is an enum")
        .iter()
        .map(|t| t.as_str().expect("a problem type is a string").to_owned())
        .collect()
}

/// Each problem type of the document has its page (200, HTML, its title); an unknown one is a
/// 404 problem; and the `type` of problems the API answers resolves to its page.
pub async fn every_problem_type_resolves_to_its_page(app: TestApp) {
    let doc = app.openapi().await;
    let types = documented_problem_types(&doc);
    assert!(types.len() > 20, "{types:?}");
    for problem_type in &types {
        let page = app
            .client
            .get(app.url(problem_type))
            .send()
            .await
            .expect("the server answers");
        assert_eq!(page.status(), StatusCode::OK, "{problem_type}");
        let content_type = page.headers()["content-type"]
            .to_str()
            .expect("the content type is text")
            .to_owned();
        assert!(content_type.starts_with("text/html"), "{content_type}");
        let html = page.text().await.expect("the page is text");
        assert!(
            html.contains(&format!("<code>{problem_type}</code>")),
            "{html}"
        );
    }
    let unknown = app
        .client
        .get(app.url("/problems/no-such-problem"))
        .send()
        .await
        .expect("the server answers");
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    assert!(unknown.headers().contains_key("x-request-id"));
    assert_eq!(unknown.headers()["content-type"], PROBLEM_JSON);

    // problems of several kinds, as the API answers them
    let buyer = app.buyer("b-1");
    let answers = [
        app.client.get(app.url("/v1/cart")).send(),
        app.client
            .get(app.url("/v1/orders/1"))
            .bearer_auth(&buyer)
            .send(),
        app.client
            .post(app.url("/v1/products"))
            .bearer_auth(&buyer)
            .json(&serde_json::json!({}))
            .send(),
        app.client.get(app.url("/nowhere")).send(),
    ];
    for answer in answers {
        let problem: Value = answer
            .await
            .expect("the server answers")
            .json()
            .await
            .expect("an error answer is a problem");
        let problem_type = problem["type"].as_str().expect("a problem has a type");
        assert!(
            types.iter().any(|t| t == problem_type),
            "{problem_type} is not documented"
        );
        let page = app
            .client
            .get(app.url(problem_type))
            .send()
            .await
            .expect("the server answers");
        assert_eq!(page.status(), StatusCode::OK, "{problem_type}");
    }
}

/// A path no route serves answers a 404 problem with the request id, whatever the method and
/// wherever the path.
pub async fn an_unknown_route_is_a_404_problem_whatever_the_method(app: TestApp) {
    let methods = [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
        Method::OPTIONS,
    ];
    for path in [
        "/nowhere",
        "/v1/nowhere",
        "/v1/orders/1/nowhere",
        "/problems",
    ] {
        for method in methods.clone() {
            let answer = app
                .client
                .request(method.clone(), app.url(path))
                .send()
                .await
                .expect("the server answers");
            let what = format!("{method} {path}");
            assert_eq!(answer.status(), StatusCode::NOT_FOUND, "{what}");
            assert!(answer.headers().contains_key("x-request-id"), "{what}");
            assert_eq!(answer.headers()["content-type"], PROBLEM_JSON, "{what}");
            let problem: Value = answer.json().await.expect("a 404 is a problem");
            assert_eq!(problem["type"], "/problems/not-found", "{what}");
        }
    }
}

/// The order's status is an enum in the document (the body's and the lists' filter alike),
/// and an order's status is one of it; so is a campaign's.
pub async fn order_statuses_are_a_documented_enum(app: TestApp) {
    let doc = app.openapi().await;
    let schemas = &doc["components"]["schemas"];
    let statuses = schemas["OrderDocument"]["properties"]["status"]["enum"]
        .as_array()
        .expect("OrderDocument.status is an enum")
        .clone();
    let names: Vec<&str> = statuses
        .iter()
        .map(|s| s.as_str().expect("a status is a string"))
        .collect();
    for status in [
        "PendingPayment",
        "Paid",
        "Shipped",
        "Completed",
        "Cancelled",
    ] {
        assert!(names.contains(&status), "{status} in {names:?}");
    }
    let filter = doc["paths"]["/v1/buyers/me/orders"]["get"]["parameters"]
        .as_array()
        .expect("the list operation has parameters")
        .iter()
        .find(|p| p["name"] == "status")
        .expect("the lists filter by status");
    assert_eq!(filter["schema"]["enum"], Value::Array(statuses.clone()));
    assert!(
        schemas["RefundDocument"]["properties"]["kind"]["enum"].is_array(),
        "RefundDocument.kind is an enum"
    );
    app.create_product(NewProduct {
        sku: "tea-500g",
        price_cents: 1299,
        stock: 10,
    })
    .await;
    let order = app.order("b-1", &[("tea-500g", 1, 1)]).await;
    assert!(statuses.contains(&order["status"]), "{}", order["status"]);

    let campaign_status = &schemas["CampaignView"]["properties"]["status"];
    let reference = campaign_status["$ref"]
        .as_str()
        .and_then(|r| r.strip_prefix("#/components/schemas/"))
        .unwrap_or_else(|| panic!("CampaignView.status names its schema: {campaign_status}"));
    let campaign_statuses = &schemas[reference]["enum"];
    assert_eq!(
        campaign_statuses,
        &serde_json::json!(["Scheduled", "Running", "Ended"]),
        "{}",
        schemas[reference]
    );
    let created = app
        .client
        .post(app.url("/v1/campaigns"))
        .bearer_auth(app.seller())
        .json(&serde_json::json!({
            "sku": "tea-500g", "ends_at": "2099-01-01T00:00:00Z", "price_cents": 999,
            "stock": 2, "limit_per_buyer": 1,
        }))
        .send()
        .await
        .expect("the app answers");
    assert_eq!(created.status(), StatusCode::CREATED);
    let campaign: Value = created.json().await.expect("a campaign");
    assert_eq!(campaign["status"], "Running", "{campaign}");
}
