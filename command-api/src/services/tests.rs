//! The use cases called directly, without HTTP, on a SQLite store and a manual clock.

use shards::Stores;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use domain::{
    BuyerId, Money, OrderError, OrderId, ProductTitle, Quantity, ReservationStatus, SellerId, Sku,
    SkuError, SkuId,
};
use event_store::{EventMetadata, EventStore};
use ids::{ManualClock, SegmentAllocator};

use super::catalogue::NewProduct;
use super::placement::{OrderLine, PlaceRequest, PlacementError};
use super::{Clock, Services};
use crate::checkout_token::CheckoutTokens;

/// 2030-01-01T00:00:00Z: far from the test's real time, so a read of the system clock shows.
const START_MS: u64 = 1_893_456_000_000;
const TIMEOUT_MINUTES: i64 = 15;

struct Fixture {
    services: Services,
    store: EventStore,
    tokens: CheckoutTokens,
    clock: Arc<ManualClock>,
    _dir: tempfile::TempDir,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("events.db").display());
    let store = EventStore::connect(&url).await.unwrap();
    crate::migrations::run(&store).await.unwrap();
    let clock = Arc::new(ManualClock::new(START_MS));
    let tokens = CheckoutTokens::new("test-secret");
    let services = Services::new(
        Stores::one(store.clone()),
        Clock::new(clock.clone()),
        tokens.clone(),
        chrono::Duration::minutes(TIMEOUT_MINUTES),
        SegmentAllocator::new(&store, "refund").unwrap(),
    );
    Fixture {
        services,
        store,
        tokens,
        clock,
        _dir: dir,
    }
}

impl Fixture {
    async fn product(&self, sku: &str, stock: u32) {
        let product = NewProduct {
            seller: SellerId::parse("shop-1").unwrap(),
            sku: SkuId::parse(sku).unwrap(),
            title: ProductTitle::parse("Tea").unwrap(),
            price: Money::from_minor(1_299).unwrap(),
            initial_stock: stock,
        };
        let meta = EventMetadata::default();
        self.services
            .catalogue
            .create_product(product, &meta)
            .await
            .unwrap();
    }

    fn request(&self, order: u64, lines: &[(&str, u32)]) -> PlaceRequest {
        let expires = i64::try_from(START_MS / 1_000).unwrap() + 3_600;
        PlaceRequest {
            buyer: BuyerId::parse("42").unwrap(),
            order_id: OrderId::new(order).unwrap(),
            checkout_token: self.tokens.issue(order, "42", expires).unwrap(),
            lines: lines
                .iter()
                .map(|&(sku, quantity)| OrderLine {
                    sku: SkuId::parse(sku).unwrap(),
                    quantity: Quantity::new(quantity).unwrap(),
                    product_version: 1,
                })
                .collect(),
            campaign: None,
        }
    }

    async fn reservation(&self, sku: &str, order: u64) -> Option<ReservationStatus> {
        let stock = self.store.load::<Sku>(sku).await.unwrap().aggregate;
        stock
            .reservation(OrderId::new(order).unwrap())
            .map(|r| r.status)
    }
}

fn at_ms(ms: u64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(i64::try_from(ms).unwrap()).unwrap()
}

#[tokio::test]
async fn a_placement_reads_the_injected_clock_and_a_repeat_changes_nothing() {
    let f = fixture().await;
    f.product("tea", 5).await;
    f.clock.advance_ms(1_000);
    let meta = EventMetadata::default();
    let placed = (f.services.placement)
        .place(f.request(7, &[("tea", 2)]), &meta)
        .await
        .unwrap();
    assert!(placed.created);
    let now = at_ms(START_MS + 1_000);
    assert_eq!(placed.order.placed_at(), Some(now));
    assert_eq!(
        placed.order.payment_due_at(),
        Some(now + chrono::Duration::minutes(TIMEOUT_MINUTES))
    );
    assert_eq!(
        f.reservation("tea", 7).await,
        Some(ReservationStatus::Reserved)
    );

    let again = (f.services.placement)
        .place(f.request(7, &[("tea", 2)]), &meta)
        .await
        .unwrap();
    assert!(!again.created);
    assert_eq!(again.version, placed.version);
}

#[tokio::test]
async fn a_refused_reservation_rejects_the_id_and_releases_what_was_reserved() {
    let f = fixture().await;
    f.product("tea", 5).await;
    f.product("cup", 0).await;
    let meta = EventMetadata::default();
    let refused = (f.services.placement)
        .place(f.request(8, &[("tea", 1), ("cup", 1)]), &meta)
        .await
        .unwrap_err();
    assert!(
        matches!(
            refused,
            PlacementError::Stock(SkuError::InsufficientStock { .. })
        ),
        "{refused:?}"
    );
    assert_eq!(
        f.reservation("tea", 8).await,
        Some(ReservationStatus::Released)
    );
    let retried = (f.services.placement)
        .place(f.request(8, &[("tea", 1)]), &meta)
        .await
        .unwrap_err();
    assert!(
        matches!(
            retried,
            PlacementError::Order(OrderError::PlacementWasRejected)
        ),
        "{retried:?}"
    );
}

#[tokio::test]
async fn a_token_for_another_order_reserves_nothing() {
    let f = fixture().await;
    f.product("tea", 5).await;
    let mut request = f.request(9, &[("tea", 1)]);
    request.checkout_token = f.request(10, &[]).checkout_token;
    let refused = (f.services.placement)
        .place(request, &EventMetadata::default())
        .await
        .unwrap_err();
    assert!(
        matches!(refused, PlacementError::InvalidToken),
        "{refused:?}"
    );
    assert_eq!(f.reservation("tea", 9).await, None);
}

#[tokio::test]
async fn a_product_changed_since_the_buyer_saw_it_names_its_line() {
    let f = fixture().await;
    f.product("tea", 5).await;
    f.product("cup", 5).await;
    let seller = SellerId::parse("shop-1").unwrap();
    let cup = SkuId::parse("cup").unwrap();
    let price = Money::from_minor(999).unwrap();
    let meta = EventMetadata::default();
    (f.services.catalogue)
        .change_price(&seller, &cup, price, None, &meta)
        .await
        .unwrap();
    let refused = (f.services.placement)
        .place(f.request(11, &[("tea", 1), ("cup", 1)]), &meta)
        .await
        .unwrap_err();
    assert!(
        matches!(
            refused,
            PlacementError::ProductChanged {
                line: 1,
                current: 2,
                seen: 1,
                ..
            }
        ),
        "{refused:?}"
    );
    assert_eq!(f.reservation("tea", 11).await, None);
}
