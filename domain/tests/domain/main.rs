//! Domain tests: Given/When/Then per business rule (`cqrs_es::test::TestFramework`), plus
//! property tests for money and stock invariants. One test binary, one module per idea.

mod campaign;
mod cart;
mod fixtures;
mod money;
mod order_fixtures;
mod order_lifecycle;
mod order_payment;
mod order_placement;
mod order_refund;
mod product;
mod serialization;
mod sku;
mod stored_formats;
mod value_types;
