//! The OpenAPI document, generated from the route and type annotations, and a Swagger UI
//! page that renders it.

use actix_web::{HttpResponse, get};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::payments::{simulator, simulator_route};
use crate::problem::Problem;
use crate::routes::{cart, checkout, health, orders, payments, products, queries};
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

/// Every route of the API.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "orders",
        description = "Event-sourced order platform: commands and queries. Errors are RFC 7807 \
                       application/problem+json; updates take If-Match with the version from \
                       the ETag. Limits: bodies up to 256 KiB (413 beyond), 100 lines per \
                       order or refund, quantities 1 to 10 000, unit prices 1 to \
                       100 000 000 000 cents, ids 1 to 64 of A-Z a-z 0-9 _ . : -, titles up to \
                       200 characters, X-Correlation-Id and Idempotency-Key up to 128 visible \
                       characters; beyond a limit the answer is 400 (wrong shape) or 422 \
                       (naming the field), never 5xx.",
    ),
    paths(
        health::healthz,
        health::readyz,
        health::metrics,
        products::create_product,
        products::change_price,
        products::add_stock,
        products::get_product,
        cart::set_item,
        cart::remove_item,
        cart::get_cart,
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
    ),
    components(schemas(
        Problem,
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
        simulator::SimulatedPayment,
        simulator::CallbackFate,
    )),
    modifiers(&BearerAuth)
)]
pub(crate) struct ApiDoc;

/// The OpenAPI document.
#[get("/openapi.json")]
pub(crate) async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}

/// Swagger UI for the document. The page loads Swagger UI's script and style from a CDN, so
/// it renders where the browser can reach one; the document itself is always local.
#[get("/swagger-ui")]
pub(crate) async fn swagger_ui() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(SWAGGER_PAGE)
}

const SWAGGER_PAGE: &str = r##"<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>orders API</title>
  <link rel="stylesheet" href="https://unpkg.com/swagger-ui-dist@5/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="https://unpkg.com/swagger-ui-dist@5/swagger-ui-bundle.js"></script>
  <script>
    window.ui = SwaggerUIBundle({ url: "/openapi.json", dom_id: "#swagger-ui" });
  </script>
</body>
</html>
"##;
