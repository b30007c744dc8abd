use cqrs_es::test::TestFramework;
use domain::{
    ChangePrice, CreateProduct, PriceChanged, Product, ProductCommand, ProductCreated,
    ProductError, ProductEvent, ProductSnapshot, UNIT_PRICE_MAX_CENTS,
};

use crate::fixtures::{at, money, seller, sku, title};

fn create(price: i64) -> ProductCommand {
    ProductCommand::CreateProduct(CreateProduct {
        sku: sku("tea-500g"),
        seller: seller("s-1"),
        title: title("Green tea, 500 g"),
        price: money(price),
        at: at(0),
    })
}

fn created(price: i64) -> ProductEvent {
    ProductEvent::ProductCreated(ProductCreated {
        sku: sku("tea-500g"),
        seller: seller("s-1"),
        title: title("Green tea, 500 g"),
        price: money(price),
        version: 1,
        at: at(0),
    })
}

fn change_price(price: i64, minute: i64) -> ProductCommand {
    ProductCommand::ChangePrice(ChangePrice {
        price: money(price),
        at: at(minute),
    })
}

fn price_changed(price: i64, version: u32, minute: i64) -> ProductEvent {
    ProductEvent::PriceChanged(PriceChanged {
        price: money(price),
        version,
        at: at(minute),
    })
}

#[test]
fn creating_a_product_records_it_at_version_one() {
    TestFramework::<Product>::with(())
        .given_no_previous_events()
        .when(create(1999))
        .then_expect_events(vec![created(1999)]);
}

#[test]
fn creating_a_product_that_exists_is_refused() {
    TestFramework::<Product>::with(())
        .given(vec![created(1999)])
        .when(create(1999))
        .then_expect_error(ProductError::AlreadyExists);
}

#[test]
fn creating_a_product_at_price_zero_is_refused() {
    TestFramework::<Product>::with(())
        .given_no_previous_events()
        .when(create(0))
        .then_expect_error(ProductError::InvalidPrice);
}

#[test]
fn a_price_above_the_limit_is_refused_on_creation_and_on_change() {
    TestFramework::<Product>::with(())
        .given_no_previous_events()
        .when(create(UNIT_PRICE_MAX_CENTS + 1))
        .then_expect_error(ProductError::InvalidPrice);
    TestFramework::<Product>::with(())
        .given(vec![created(1999)])
        .when(change_price(i64::MAX, 5))
        .then_expect_error(ProductError::InvalidPrice);
    TestFramework::<Product>::with(())
        .given_no_previous_events()
        .when(create(UNIT_PRICE_MAX_CENTS))
        .then_expect_events(vec![created(UNIT_PRICE_MAX_CENTS)]);
}

#[test]
fn changing_the_price_bumps_the_snapshot_version() {
    TestFramework::<Product>::with(())
        .given(vec![created(1999), price_changed(1799, 2, 5)])
        .when(change_price(1899, 9))
        .then_expect_events(vec![price_changed(1899, 3, 9)]);
}

#[test]
fn changing_to_the_same_price_changes_nothing() {
    TestFramework::<Product>::with(())
        .given(vec![created(1999)])
        .when(change_price(1999, 5))
        .then_expect_events(vec![]);
}

#[test]
fn changing_the_price_to_zero_is_refused() {
    TestFramework::<Product>::with(())
        .given(vec![created(1999)])
        .when(change_price(0, 5))
        .then_expect_error(ProductError::InvalidPrice);
}

#[test]
fn changing_the_price_of_an_unknown_product_is_refused() {
    TestFramework::<Product>::with(())
        .given_no_previous_events()
        .when(change_price(1999, 5))
        .then_expect_error(ProductError::NotFound);
}

#[test]
fn a_product_offers_the_snapshot_an_order_item_is_bought_at() {
    let mut product = Product::default();
    assert_eq!(product.snapshot(), None);
    for event in [created(1999), price_changed(1799, 2, 5)] {
        cqrs_es::Aggregate::apply(&mut product, event);
    }
    assert_eq!(
        product.snapshot(),
        Some(ProductSnapshot {
            sku: sku("tea-500g"),
            seller: seller("s-1"),
            title: title("Green tea, 500 g"),
            unit_price: money(1799),
            version: 2,
        })
    );
}
