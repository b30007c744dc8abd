//! The document's request bodies against the types their routes read: every body has an
//! example, the example reads as the route's type, and it names only the schema's properties
//! and all its required ones (so that a misspelt optional field cannot pass as absent).

use serde::de::DeserializeOwned;
use serde_json::Value;
use utoipa::OpenApi;

use super::openapi::ApiDoc;
use super::{campaigns, cart, orders, payments, products};

/// Whether `example` reads as `T`.
fn reads<T: DeserializeOwned>(example: &Value) -> Result<(), String> {
    serde_json::from_value::<T>(example.clone())
        .map(drop)
        .map_err(|err| err.to_string())
}

/// Reads `example` as the request type whose schema is named `schema`.
fn read_as(schema: &str, example: &Value) -> Result<(), String> {
    match schema {
        "SetCartItemRequest" => reads::<cart::SetCartItemRequest>(example),
        "PaymentNotification" => reads::<payments::PaymentNotification>(example),
        "CreateProductRequest" => reads::<products::CreateProductRequest>(example),
        "ChangePriceRequest" => reads::<products::ChangePriceRequest>(example),
        "AddStockRequest" => reads::<products::AddStockRequest>(example),
        "PlaceOrderRequest" => reads::<orders::place::PlaceOrderRequest>(example),
        "LogisticsRequest" => reads::<orders::update::LogisticsRequest>(example),
        "ShipRequest" => reads::<orders::update::ShipRequest>(example),
        "RefundRequest" => reads::<orders::update::RefundRequest>(example),
        "CreateCampaignRequest" => reads::<campaigns::CreateCampaignRequest>(example),
        other => Err(format!("no reader for {other}: add its request type here")),
    }
}

/// The schema `schema` is or refers to.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(reference) => {
            let name = reference.rsplit('/').next().unwrap_or_default();
            &doc["components"]["schemas"][name]
        }
        None => schema,
    }
}

/// Where `value` names a property `schema` does not have or lacks a required one.
fn strays(doc: &Value, schema: &Value, value: &Value, at: &str) -> Vec<String> {
    let schema = resolve(doc, schema);
    match value {
        Value::Object(fields) => {
            let properties = &schema["properties"];
            let mut found: Vec<String> = fields
                .iter()
                .flat_map(|(name, field)| match properties.get(name) {
                    Some(property) => strays(doc, property, field, &format!("{at}.{name}")),
                    None => vec![format!("{at}.{name} is not in the schema")],
                })
                .collect();
            for required in schema["required"].as_array().into_iter().flatten() {
                let name = required.as_str().unwrap_or_default();
                if !fields.contains_key(name) {
                    found.push(format!("{at}.{name} is required"));
                }
            }
            found
        }
        Value::Array(items) => items
            .iter()
            .enumerate()
            .flat_map(|(n, item)| strays(doc, &schema["items"], item, &format!("{at}[{n}]")))
            .collect(),
        _ => Vec::new(),
    }
}

#[test]
fn every_request_body_has_an_example_that_its_route_reads() {
    let doc = serde_json::to_value(ApiDoc::openapi()).expect("the document is JSON");
    let mut failures = Vec::new();
    let mut bodies = 0;
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        for (method, operation) in item.as_object().into_iter().flatten() {
            let Some(body) = operation.get("requestBody") else {
                continue;
            };
            for (media_type, content) in body["content"].as_object().into_iter().flatten() {
                bodies += 1;
                let name = format!("{method} {path} {media_type}");
                let Some(example) = content.get("example") else {
                    failures.push(format!("{name}: no example"));
                    continue;
                };
                let schema = content["schema"]["$ref"]
                    .as_str()
                    .and_then(|reference| reference.rsplit('/').next())
                    .unwrap_or_default();
                if let Err(err) = read_as(schema, example) {
                    failures.push(format!("{name}: the example does not read: {err}"));
                }
                for stray in strays(&doc, &content["schema"], example, "body") {
                    failures.push(format!("{name}: {stray}"));
                }
            }
        }
    }
    assert!(bodies >= 9, "only {bodies} request bodies in the document");
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}
