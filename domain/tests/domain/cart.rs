use cqrs_es::Aggregate;
use cqrs_es::test::TestFramework;
use domain::{
    AddToCart, CART_ITEMS_MAX, Cart, CartCleared, CartCommand, CartError, CartEvent, CartItemAdded,
    CartItemRemoved, ClearCart, RemoveFromCart,
};

use crate::fixtures::{at, order_id, qty, sku};

fn add(sku_id: &str, units: u32) -> CartCommand {
    CartCommand::AddToCart(AddToCart {
        sku: sku(sku_id),
        quantity: qty(units),
        at: at(1),
    })
}

fn added(sku_id: &str, units: u32) -> CartEvent {
    CartEvent::CartItemAdded(CartItemAdded {
        sku: sku(sku_id),
        quantity: qty(units),
        at: at(1),
    })
}

fn remove(sku_id: &str) -> CartCommand {
    CartCommand::RemoveFromCart(RemoveFromCart {
        sku: sku(sku_id),
        at: at(2),
    })
}

fn removed(sku_id: &str) -> CartEvent {
    CartEvent::CartItemRemoved(CartItemRemoved {
        sku: sku(sku_id),
        at: at(2),
    })
}

fn clear(order: u64) -> CartCommand {
    CartCommand::ClearCart(ClearCart {
        order_id: order_id(order),
        at: at(3),
    })
}

fn cleared(order: u64) -> CartEvent {
    CartEvent::CartCleared(CartCleared {
        order_id: order_id(order),
        at: at(3),
    })
}

fn given(events: Vec<CartEvent>) -> cqrs_es::test::AggregateTestExecutor<Cart> {
    TestFramework::<Cart>::with(()).given(events)
}

fn replay(events: Vec<CartEvent>) -> Cart {
    let mut cart = Cart::default();
    for event in events {
        cart.apply(event);
    }
    cart
}

#[test]
fn adding_a_sku_puts_it_in_the_cart() {
    given(vec![])
        .when(add("tea", 2))
        .then_expect_events(vec![added("tea", 2)]);
    let cart = replay(vec![added("tea", 2)]);
    assert_eq!(cart.quantity(&sku("tea")), Some(qty(2)));
}

#[test]
fn adding_a_sku_already_in_the_cart_sets_its_quantity() {
    given(vec![added("tea", 2)])
        .when(add("tea", 5))
        .then_expect_events(vec![added("tea", 5)]);
    let cart = replay(vec![added("tea", 2), added("tea", 5)]);
    assert_eq!(cart.quantity(&sku("tea")), Some(qty(5)));
}

#[test]
fn adding_a_sku_at_its_current_quantity_changes_nothing() {
    given(vec![added("tea", 2)])
        .when(add("tea", 2))
        .then_expect_events(vec![]);
}

#[test]
fn adding_a_new_sku_to_a_full_cart_is_refused() {
    let full: Vec<CartEvent> = (0..CART_ITEMS_MAX)
        .map(|i| added(&format!("sku-{i}"), 1))
        .collect();
    given(full.clone())
        .when(add("one-more", 1))
        .then_expect_error(CartError::CartFull);
    // Changing a line of a full cart is fine.
    given(full)
        .when(add("sku-0", 3))
        .then_expect_events(vec![added("sku-0", 3)]);
}

#[test]
fn removing_a_sku_takes_it_out_of_the_cart() {
    given(vec![added("tea", 2)])
        .when(remove("tea"))
        .then_expect_events(vec![removed("tea")]);
    let cart = replay(vec![added("tea", 2), added("cup", 1), removed("tea")]);
    assert_eq!(cart.quantity(&sku("tea")), None);
    let items: Vec<_> = cart.items().map(|(s, q)| (s.clone(), q)).collect();
    assert_eq!(items, vec![(sku("cup"), qty(1))]);
}

#[test]
fn removing_a_sku_not_in_the_cart_changes_nothing() {
    given(vec![added("tea", 2)])
        .when(remove("cup"))
        .then_expect_events(vec![]);
}

#[test]
fn clearing_the_cart_after_an_order_empties_it() {
    given(vec![added("tea", 2), added("cup", 1)])
        .when(clear(1001))
        .then_expect_events(vec![cleared(1001)]);
    assert!(replay(vec![added("tea", 2), cleared(1001)]).is_empty());
}

#[test]
fn clearing_again_for_the_same_order_changes_nothing() {
    // A redelivered OrderPlaced must not clear what the buyer added since.
    given(vec![added("tea", 2), cleared(1001), added("cup", 1)])
        .when(clear(1001))
        .then_expect_events(vec![]);
}

#[test]
fn clearing_an_empty_cart_changes_nothing() {
    given(vec![]).when(clear(1001)).then_expect_events(vec![]);
    given(vec![added("tea", 2), removed("tea")])
        .when(clear(1001))
        .then_expect_events(vec![]);
}

#[test]
fn clearing_for_another_order_empties_the_cart_again() {
    given(vec![added("tea", 2), cleared(1001), added("cup", 1)])
        .when(clear(1002))
        .then_expect_events(vec![cleared(1002)]);
}
