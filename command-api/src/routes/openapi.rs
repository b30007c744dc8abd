//! The OpenAPI document, generated from the route and type annotations (Swagger UI renders
//! it: `swagger_ui`).

use actix_web::{HttpResponse, get};
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::{Object, Type};
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{Content, Ref, RefOr};
use utoipa::{Modify, OpenApi};

use crate::payments::{simulator, simulator_route};
use crate::problem::Problem;
use crate::routes::{
    campaigns, cart, checkout, health, ops, orders, payments, problems, products, queries,
};
use crate::views;

/// The document's description of its two credentials: bearer tokens for buyers, sellers and
/// operators, and the signature on the payment provider's callbacks.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
        components.add_security_scheme(
            "callback_signature",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                crate::payments::signature::SIGNATURE_HEADER,
                "t=<unix seconds>,v1=<hex HMAC-SHA256 of \"<t>.<body>\"> keyed with the shared \
                 payment_callback_secret (Stripe's scheme); 300 s tolerance",
            ))),
        );
    }
}

/// Where the document refers to [`Problem`].
const PROBLEM_REF: &str = "#/components/schemas/Problem";
/// The media type of every error answer ([`Problem`]).
const PROBLEM_JSON: &str = "application/problem+json";

/// The answers that the machinery around the routes gives, whatever the route: documented
/// here once rather than on each route, so that no operation can leave one out. A route's
/// own description of a status wins. And every [`Problem`] answer is declared as the
/// `application/problem+json` it is sent as.
///
/// - 400 anywhere: `X-Correlation-Id` is checked on every request, a body, query or header
///   (`If-Match`, `Idempotency-Key`) of the wrong shape is 400 (`limits`, `http`);
/// - 401 and 403 wherever a bearer token is required (`auth::Principal`): none or an invalid
///   one, or a role or subject that may not do this;
/// - 413 wherever there is a body (`limits::JSON_BODY_SIZE_MAX_BYTES`);
/// - 422 wherever a path or query parameter or a body is parsed (`http::field`);
/// - 503 with `Retry-After` under `/v1`: the database cannot be reached, or contention
///   outlasted the retries (`Problem::unavailable`, `Problem::busy`);
/// - `X-Request-Id` on every answer (`access`).
struct SharedAnswers;

impl Modify for SharedAnswers {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let bearer = SecurityRequirement::new("bearer", Vec::<String>::new());
        for (path, item) in &mut openapi.paths.paths {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for operation in operations.into_iter().flatten() {
                let has_body = operation.request_body.is_some();
                let parses_fields = has_body
                    || operation.parameters.iter().flatten().any(|parameter| {
                        matches!(
                            parameter.parameter_in,
                            ParameterIn::Path | ParameterIn::Query
                        )
                    });
                let needs_token = operation.security.iter().flatten().any(|s| *s == bearer);
                shared(
                    operation,
                    400,
                    "Malformed request: a body, parameter or header (e.g. X-Correlation-Id) \
                     of the wrong shape",
                );
                if needs_token {
                    shared(operation, 401, "No valid bearer token");
                    shared(
                        operation,
                        403,
                        "The token's role may not do this, or its subject is not a valid id",
                    );
                }
                if has_body {
                    let limit_kib = crate::limits::JSON_BODY_SIZE_MAX_BYTES / 1024;
                    let too_large = format!("The body is larger than {limit_kib} KiB");
                    shared(operation, 413, &too_large);
                }
                if parses_fields {
                    shared(operation, 422, "A field is invalid (the problem names it)");
                }
                if path.starts_with("/v1/") {
                    shared(
                        operation,
                        503,
                        "The database cannot be reached, or contention outlasted the retries; \
                         retry after a moment",
                    );
                    if let Some(RefOr::T(unavailable)) =
                        operation.responses.responses.get_mut("503")
                    {
                        unavailable
                            .headers
                            .entry("Retry-After".to_owned())
                            .or_insert_with(|| {
                                HeaderBuilder::new()
                                    .schema(Object::with_type(Type::Integer))
                                    .description(Some("Seconds to wait before retrying"))
                                    .build()
                            });
                    }
                }
                for response in operation.responses.responses.values_mut() {
                    if let RefOr::T(response) = response {
                        problem_as_problem_json(response);
                        with_request_id(response);
                    }
                }
            }
        }
    }
}

/// Documents `status` on `operation` as a [`Problem`], unless the route documents it.
fn shared(operation: &mut Operation, status: u16, description: &str) {
    operation
        .responses
        .responses
        .entry(status.to_string())
        .or_insert_with(|| {
            ResponseBuilder::new()
                .description(description)
                .content(PROBLEM_JSON, Content::new(Some(Ref::new(PROBLEM_REF))))
                .into()
        });
}

/// Declares the `X-Request-Id` every answer carries (`access`).
fn with_request_id(response: &mut Response) {
    response
        .headers
        .entry("X-Request-Id".to_owned())
        .or_insert_with(|| {
            HeaderBuilder::new()
                .schema(Object::with_type(Type::String))
                .description(Some(
                    "The request's id: the client's X-Request-Id when it is 1 to 128 visible \
                     ASCII characters, else a new one; recorded in the metadata of the events \
                     the request wrote and in the access log",
                ))
                .build()
        });
}

/// Declares a [`Problem`] body as `application/problem+json`, the media type it is sent as.
fn problem_as_problem_json(response: &mut Response) {
    let is_problem = |content: &Content| matches!(&content.schema, Some(RefOr::Ref(schema)) if schema.ref_location == PROBLEM_REF);
    if !response
        .content
        .get("application/json")
        .is_some_and(is_problem)
    {
        return;
    }
    if let Some(content) = response.content.shift_remove("application/json") {
        response.content.insert(PROBLEM_JSON.to_owned(), content);
    }
}

/// Every route of the API.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "orders",
        description = "Event-sourced order platform: commands and queries. Errors are RFC 7807 \
                       application/problem+json, each of a type listed as Problem.type whose \
                       page is GET /problems/{type}; updates take If-Match with the version from \
                       the ETag. Limits: bodies up to 256 KiB (413 beyond), 100 lines per \
                       order or refund, quantities 1 to 10 000, unit prices 1 to \
                       100 000 000 000 cents, ids 1 to 64 of A-Z a-z 0-9 _ . : -, titles up to \
                       200 characters, X-Correlation-Id and Idempotency-Key up to 128 visible \
                       characters; beyond a limit the answer is 400 (wrong shape) or 422 \
                       (naming the field), never 5xx. Every answer carries X-Request-Id: the \
                       client's when sane, else a new one.",
    ),
    paths(
        health::healthz,
        health::readyz,
        health::metrics,
        problems::problem_page,
        products::create_product,
        products::change_price,
        products::add_stock,
        products::get_product,
        cart::set_item,
        cart::remove_item,
        cart::get_cart,
        campaigns::create_campaign,
        campaigns::list_campaigns,
        campaigns::get_campaign,
        campaigns::end_campaign,
        checkout::checkout,
        orders::place::place_order,
        orders::update::cancel,
        orders::update::logistics,
        orders::update::ship,
        orders::update::confirm_receipt,
        orders::update::request_refund,
        payments::notify,
        simulator_route::pay,
        queries::orders::get_order,
        queries::orders::buyer_orders,
        queries::orders::seller_orders,
        queries::stock::get_stock,
        ops::get_status,
    ),
    components(schemas(
        Problem,
        health::Readiness,
        crate::status::Status,
        crate::status::FollowerStatus,
        crate::status::LeaseStatus,
        crate::status::TransactionHolder,
        crate::status::ShardStatus,
        queries::orders::OrderPage,
        projections::OrderDocument,
        projections::document::OrderItemDocument,
        projections::document::PaymentDocument,
        projections::document::RefundDocument,
        projections::StockRow,
        views::ProductView,
        views::StockView,
        views::CartView,
        views::CartLineView,
        campaigns::CreateCampaignRequest,
        campaigns::CampaignView,
        campaigns::CampaignStatusView,
        simulator::SimulatedPayment,
        simulator::CallbackFate,
    )),
    modifiers(&BearerAuth, &SharedAnswers)
)]
pub(crate) struct ApiDoc;

/// The OpenAPI document.
#[get("/openapi.json")]
pub(crate) async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}
