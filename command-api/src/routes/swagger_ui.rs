//! Swagger UI on `/swagger-ui/`, rendering `/openapi.json`: its files are in the binary
//! (utoipa-swagger-ui's `vendored` feature), so the page works where the browser reaches
//! nothing but this server, and nothing is downloaded to build it. The online validator
//! badge, which would send the document to swagger.io, is off.

use actix_web::http::header;
use actix_web::{HttpResponse, get};
use utoipa_swagger_ui::{Config, SwaggerUi};

/// Where the page is; its files load relative to it, so it ends in a slash.
const SWAGGER_UI_PATH: &str = "/swagger-ui/";

/// The page and its files, under [`SWAGGER_UI_PATH`].
pub(crate) fn files() -> SwaggerUi {
    SwaggerUi::new(format!("{SWAGGER_UI_PATH}{{_:.*}}"))
        .config(Config::from("/openapi.json").validator_url("none"))
}

/// `/swagger-ui` without its slash: a permanent redirect to the page, since relative to
/// `/swagger-ui` its files would be looked for at the root.
#[get("/swagger-ui")]
pub(crate) async fn redirect() -> HttpResponse {
    HttpResponse::PermanentRedirect()
        .insert_header((header::LOCATION, SWAGGER_UI_PATH))
        .finish()
}
