use cqrs_es::Aggregate;
use cqrs_es::test::TestFramework;
use domain::{
    AddStock, CreateSku, DeductStock, ReleaseStock, Reservation, ReservationStatus, ReserveStock,
    Sku, SkuCommand, SkuCreated, SkuError, SkuEvent, StockAdded, StockDeducted, StockReleased,
    StockReserved,
};
use proptest::prelude::*;

use crate::fixtures::{at, order_id, qty, seller, sku};

fn create(initial_stock: u32) -> SkuCommand {
    SkuCommand::CreateSku(CreateSku {
        sku: sku("tea-500g"),
        seller: seller("s-1"),
        initial_stock,
        at: at(0),
    })
}

fn created(initial_stock: u32) -> SkuEvent {
    SkuEvent::SkuCreated(SkuCreated {
        sku: sku("tea-500g"),
        seller: seller("s-1"),
        initial_stock,
        at: at(0),
    })
}

fn add(quantity: u32) -> SkuCommand {
    SkuCommand::AddStock(AddStock {
        quantity,
        at: at(1),
    })
}

fn added(quantity: u32) -> SkuEvent {
    SkuEvent::StockAdded(StockAdded {
        quantity,
        at: at(1),
    })
}

fn reserve(order: u64, units: u32) -> SkuCommand {
    SkuCommand::ReserveStock(ReserveStock {
        order_id: order_id(order),
        quantity: qty(units),
        at: at(2),
    })
}

fn reserved(order: u64, units: u32) -> SkuEvent {
    SkuEvent::StockReserved(StockReserved {
        order_id: order_id(order),
        quantity: qty(units),
        at: at(2),
    })
}

fn release(order: u64) -> SkuCommand {
    SkuCommand::ReleaseStock(ReleaseStock {
        order_id: order_id(order),
        at: at(3),
    })
}

fn released(order: u64, units: u32) -> SkuEvent {
    SkuEvent::StockReleased(StockReleased {
        order_id: order_id(order),
        quantity: qty(units),
        at: at(3),
    })
}

fn deduct(order: u64) -> SkuCommand {
    SkuCommand::DeductStock(DeductStock {
        order_id: order_id(order),
        at: at(3),
    })
}

fn deducted(order: u64, units: u32) -> SkuEvent {
    SkuEvent::StockDeducted(StockDeducted {
        order_id: order_id(order),
        quantity: qty(units),
        at: at(3),
    })
}

fn replay(events: Vec<SkuEvent>) -> Sku {
    let mut stock = Sku::default();
    for event in events {
        stock.apply(event);
    }
    stock
}

#[test]
fn creating_a_sku_records_its_initial_stock() {
    TestFramework::<Sku>::with(())
        .given_no_previous_events()
        .when(create(10))
        .then_expect_events(vec![created(10)]);
}

#[test]
fn creating_a_sku_that_exists_is_refused() {
    TestFramework::<Sku>::with(())
        .given(vec![created(10)])
        .when(create(10))
        .then_expect_error(SkuError::AlreadyExists);
}

#[test]
fn stock_commands_on_an_unknown_sku_are_refused() {
    for command in [add(1), reserve(1, 1), release(1), deduct(1)] {
        TestFramework::<Sku>::with(())
            .given_no_previous_events()
            .when(command)
            .then_expect_error(SkuError::NotFound);
    }
}

#[test]
fn adding_stock_makes_it_available() {
    TestFramework::<Sku>::with(())
        .given(vec![created(0)])
        .when(add(5))
        .then_expect_events(vec![added(5)]);
    assert_eq!(replay(vec![created(2), added(5)]).available(), 7);
}

#[test]
fn adding_zero_stock_is_refused() {
    TestFramework::<Sku>::with(())
        .given(vec![created(0)])
        .when(add(0))
        .then_expect_error(SkuError::ZeroStockAdded);
}

#[test]
fn reserving_available_stock_holds_it_for_the_order() {
    TestFramework::<Sku>::with(())
        .given(vec![created(10)])
        .when(reserve(1, 10))
        .then_expect_events(vec![reserved(1, 10)]);
    let stock = replay(vec![created(10), reserved(1, 4)]);
    assert_eq!(
        (stock.available(), stock.reserved(), stock.sold()),
        (6, 4, 0)
    );
    assert_eq!(
        stock.reservation(order_id(1)),
        Some(Reservation {
            quantity: qty(4),
            status: ReservationStatus::Reserved
        })
    );
    assert_eq!(stock.reservation(order_id(2)), None);
}

#[test]
fn reserving_more_than_is_available_is_refused() {
    TestFramework::<Sku>::with(())
        .given(vec![created(10), reserved(1, 8)])
        .when(reserve(2, 3))
        .then_expect_error(SkuError::InsufficientStock {
            available: 2,
            requested: 3,
        });
}

#[test]
fn reserving_again_for_the_same_order_changes_nothing() {
    TestFramework::<Sku>::with(())
        .given(vec![created(10), reserved(1, 2)])
        .when(reserve(1, 2))
        .then_expect_events(vec![]);
}

#[test]
fn reserving_a_different_quantity_for_an_order_that_already_reserved_is_refused() {
    TestFramework::<Sku>::with(())
        .given(vec![created(10), reserved(1, 2)])
        .when(reserve(1, 3))
        .then_expect_error(SkuError::ReservationMismatch {
            reserved: 2,
            requested: 3,
        });
}

#[test]
fn reserving_again_for_an_order_whose_reservation_ended_changes_nothing() {
    TestFramework::<Sku>::with(())
        .given(vec![created(10), reserved(1, 2), released(1, 2)])
        .when(reserve(1, 2))
        .then_expect_events(vec![]);
    TestFramework::<Sku>::with(())
        .given(vec![created(10), reserved(1, 2), deducted(1, 2)])
        .when(reserve(1, 2))
        .then_expect_events(vec![]);
}

#[test]
fn releasing_a_reservation_makes_its_units_available_again() {
    TestFramework::<Sku>::with(())
        .given(vec![created(10), reserved(1, 4)])
        .when(release(1))
        .then_expect_events(vec![released(1, 4)]);
    let stock = replay(vec![created(10), reserved(1, 4), released(1, 4)]);
    assert_eq!(
        (stock.available(), stock.reserved(), stock.sold()),
        (10, 0, 0)
    );
    assert_eq!(
        stock.reservation(order_id(1)).map(|r| r.status),
        Some(ReservationStatus::Released)
    );
}

#[test]
fn deducting_a_reservation_sells_its_units() {
    TestFramework::<Sku>::with(())
        .given(vec![created(10), reserved(1, 4)])
        .when(deduct(1))
        .then_expect_events(vec![deducted(1, 4)]);
    let stock = replay(vec![created(10), reserved(1, 4), deducted(1, 4)]);
    assert_eq!(
        (stock.available(), stock.reserved(), stock.sold()),
        (6, 0, 4)
    );
    assert_eq!(
        stock.reservation(order_id(1)).map(|r| r.status),
        Some(ReservationStatus::Deducted)
    );
}

#[test]
fn releasing_or_deducting_an_unknown_reservation_changes_nothing() {
    for command in [release(7), deduct(7)] {
        TestFramework::<Sku>::with(())
            .given(vec![created(10), reserved(1, 4)])
            .when(command)
            .then_expect_events(vec![]);
    }
}

#[test]
fn releasing_after_deducting_changes_nothing() {
    TestFramework::<Sku>::with(())
        .given(vec![created(10), reserved(1, 4), deducted(1, 4)])
        .when(release(1))
        .then_expect_events(vec![]);
}

#[test]
fn deducting_after_releasing_changes_nothing() {
    TestFramework::<Sku>::with(())
        .given(vec![created(10), reserved(1, 4), released(1, 4)])
        .when(deduct(1))
        .then_expect_events(vec![]);
}

#[test]
fn releasing_twice_changes_nothing_the_second_time() {
    TestFramework::<Sku>::with(())
        .given(vec![created(10), reserved(1, 4), released(1, 4)])
        .when(release(1))
        .then_expect_events(vec![]);
}

fn any_command() -> impl Strategy<Value = SkuCommand> {
    // Few order ids, so that duplicates, releases and deductions meet the same reservations.
    prop_oneof![
        (0u32..=20).prop_map(add),
        (1u64..=8, 1u32..=15).prop_map(|(order, units)| reserve(order, units)),
        (1u64..=8).prop_map(release),
        (1u64..=8).prop_map(deduct),
    ]
}

proptest! {
    #[test]
    fn stock_is_conserved_and_never_negative_under_any_commands(
        initial in 0u32..=50,
        commands in prop::collection::vec(any_command(), 0..60),
    ) {
        let mut stock = replay(vec![created(initial)]);
        let mut received = u64::from(initial);
        for command in commands {
            let Ok(events) = stock.decide(command) else { continue };
            for event in events {
                if let SkuEvent::StockAdded(e) = &event {
                    received += u64::from(e.quantity);
                }
                let available_before = stock.available();
                if let SkuEvent::StockReserved(e) = &event {
                    prop_assert!(u64::from(e.quantity.get()) <= available_before);
                }
                stock.apply(event);
            }
            prop_assert_eq!(stock.available() + stock.reserved() + stock.sold(), received);
            let held: u64 = (1..=8)
                .filter_map(|order| stock.reservation(order_id(order)))
                .filter(|r| r.status == ReservationStatus::Reserved)
                .map(|r| u64::from(r.quantity.get()))
                .sum();
            prop_assert_eq!(stock.reserved(), held);
        }
    }
}

/// A hot SKU's state over a million reservations, each paid a moment later, one every
/// millisecond of event time: it holds the ended reservations of the last
/// `SETTLED_RESERVATION_KEPT_SECS` only, not one per order ever served.
#[test]
fn a_million_ended_reservations_leave_the_state_flat() {
    const RESERVATIONS: u64 = 1_000_000;
    let start = at(0);
    let mut stock = Sku::default();
    stock.apply(SkuEvent::SkuCreated(SkuCreated {
        sku: sku("hot"),
        seller: seller("s-1"),
        initial_stock: u32::MAX,
        at: start,
    }));
    let kept_max = usize::try_from(domain::SETTLED_RESERVATION_KEPT_SECS * 1_000 + 2).unwrap();
    for n in 1..=RESERVATIONS {
        let when = start + chrono::Duration::milliseconds(i64::try_from(n).unwrap());
        stock.apply(SkuEvent::StockReserved(StockReserved {
            order_id: order_id(n),
            quantity: qty(1),
            at: when,
        }));
        stock.apply(SkuEvent::StockDeducted(StockDeducted {
            order_id: order_id(n),
            quantity: qty(1),
            at: when,
        }));
        assert!(stock.reservations_kept() <= kept_max, "{n}");
    }
    assert_eq!(stock.sold(), RESERVATIONS);
    assert_eq!(stock.reservations_kept(), kept_max - 1);
    // inside the window a late duplicate of a placement is still a repeat...
    let recent = RESERVATIONS - 10;
    let retry = stock.decide(SkuCommand::ReserveStock(ReserveStock {
        order_id: order_id(recent),
        quantity: qty(1),
        at: start + chrono::Duration::milliseconds(i64::try_from(RESERVATIONS).unwrap()),
    }));
    assert_eq!(retry, Ok(vec![]));
    // ... and an order that ended long ago is forgotten
    assert_eq!(stock.reservation(order_id(1)), None);
}
