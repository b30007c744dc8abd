//! HTTP routes: operations endpoints at the root, the API under `/v1`, one module per
//! resource; commands call a service, queries (`queries`) read the read models. One problem
//! type, one caller model (`auth::Principal`) and one ETag helper (`http`) serve both.

pub(crate) mod campaigns;
pub(crate) mod cart;
pub(crate) mod checkout;
mod health;
pub(crate) mod openapi;
#[cfg(test)]
mod openapi_tests;
pub(crate) mod ops;
pub(crate) mod orders;
pub(crate) mod payments;
pub(crate) mod problems;
pub(crate) mod products;
pub(crate) mod queries;
mod swagger_ui;

use actix_web::web;

/// Registers what every node answers, whatever its roles: health, readiness, metrics and the
/// pages of the problem types.
pub fn configure_operations(cfg: &mut web::ServiceConfig) {
    cfg.service(health::healthz)
        .service(health::readyz)
        .service(health::metrics)
        .service(problems::problem_page);
}

/// Registers every route: the operations' and the API's.
pub fn configure(cfg: &mut web::ServiceConfig) {
    configure_operations(cfg);
    cfg.service(openapi::openapi_json)
        .service(swagger_ui::redirect)
        .service(swagger_ui::files())
        .service(products::create_product)
        .service(products::change_price)
        .service(products::add_stock)
        .service(products::get_product)
        .service(cart::set_item)
        .service(cart::remove_item)
        .service(cart::get_cart)
        .service(campaigns::create_campaign)
        .service(campaigns::list_campaigns)
        .service(campaigns::get_campaign)
        .service(campaigns::end_campaign)
        .service(checkout::checkout)
        .service(orders::place::place_order)
        .service(orders::update::cancel)
        .service(orders::update::logistics)
        .service(orders::update::ship)
        .service(orders::update::confirm_receipt)
        .service(orders::update::request_refund)
        .service(payments::notify)
        .service(queries::orders::get_order)
        .service(queries::orders::buyer_orders)
        .service(queries::orders::seller_orders)
        .service(queries::stock::get_stock)
        .service(ops::get_status);
    // the simulator's pay route is mounted by startup, when the simulator runs
}
