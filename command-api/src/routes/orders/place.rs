//! `POST /v1/orders`: placing a checked-out order.
//!
//! 1. The checkout token must be valid for this buyer and order id (else 403).
//! 2. An order that already exists answers with itself when the content is the same (200),
//!    else 409. A node that has seen the order answers before touching stock; a node that
//!    has not presumes the id new (ADR 14) and learns otherwise when it writes the order, and
//!    then releases what it reserved that the order does not hold.
//! 3. Every item's product snapshot version must be current (else 409 `product-changed`);
//!    nothing is written. "Current" is as this process keeps the product, at most the
//!    staleness bound behind the log (ADR 16); a refusal is checked on the log.
//! 4. Stock is reserved on every SKU, in SKU order, keyed by the order id: a retry or a racing
//!    duplicate reserves nothing twice, and no SKU goes below zero.
//! 5. `OrderPlaced` is appended as the order stream's first event (201).
//!
//! Whoever appends an order stream's first event decides its id's reservations: a failed
//! placement first appends `PlacementRejected` and only then releases what it reserved, and
//! a placement that loses the race releases only what the winner does not use.

use std::collections::{BTreeMap, HashMap};

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, post, web};
use chrono::{Duration, Utc};
use domain::{
    BuyerId, ItemRequest, Money, Order, OrderCommand, OrderError, OrderId, PlaceOrder, Product,
    ProductSnapshot, Quantity, RejectPlacement, RejectionReason, ReleaseStock, ReserveStock, Sku,
    SkuCommand, SkuError, SkuId,
};
use event_store::{EventMetadata, EventStore, Loaded};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::auth::Principal;
use crate::errors::ToProblem;
use crate::http::{field, metadata};
use crate::problem::Problem;
use crate::routes::cart::buyer_of;
use crate::state::AppState;
use crate::views::order_answer;
use event_store::{ExecuteError, Executed, execute, execute_with};

/// An order to place.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct PlaceOrderRequest {
    /// The order id from `POST /v1/checkout` (decimal string).
    order_id: String,
    /// The checkout token issued with it.
    checkout_token: String,
    /// What to buy: one line per SKU, all from one seller.
    items: Vec<PlaceOrderItem>,
}

/// One line of an order to place.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct PlaceOrderItem {
    /// SKU.
    sku: String,
    /// Units, 1 to 10 000.
    quantity: u32,
    /// The product snapshot version the buyer saw (`product_version` of the product).
    product_version: u32,
}

struct Line {
    sku: SkuId,
    quantity: Quantity,
    product_version: u32,
}

/// Places an order. Placing the same order again answers 200 with the same body.
#[utoipa::path(
    request_body = PlaceOrderRequest,
    responses(
        (status = 201, description = "Placed", body = projections::OrderDocument),
        (status = 200, description = "Placed before with the same content", body = projections::OrderDocument),
        (status = 403, description = "The checkout token is not valid for this buyer and order", body = Problem),
        (status = 409, description = "Product changed (`product-changed`), out of stock, or the id holds another order", body = Problem),
        (status = 422, description = "A field is invalid", body = Problem)
    ),
    security(("bearer" = [])),
    tag = "buyer"
)]
#[post("/v1/orders")]
pub(crate) async fn place_order(
    state: web::Data<AppState>,
    principal: Principal,
    req: HttpRequest,
    body: web::Json<PlaceOrderRequest>,
) -> Result<HttpResponse, Problem> {
    let buyer = buyer_of(&principal)?;
    let order_id: OrderId = field("order_id", body.order_id.parse())?;
    if !state
        .checkout
        .verify(&body.checkout_token, order_id.get(), buyer.as_str())
    {
        return Err(Problem::forbidden(
            "the checkout token is not valid for this buyer and order id",
        ));
    }
    let lines = parse_lines(&body.items)?;
    let store = &state.store;
    let id = order_id.to_string();

    // A fresh id's stream is presumed empty, unread (ADR 14): the order's write at version 0
    // finds out when it is not. Through the order's slot, so the placement below starts from
    // this state.
    let mut existing = store.current_or_new::<Order>(&id).await?;
    if existing.aggregate.rejection().is_some() {
        return Err(OrderError::PlacementWasRejected.to_problem());
    }

    let snapshots = current_snapshots(store, &lines).await?;
    let seller = snapshots[0].seller.clone();
    let now = Utc::now();
    let timeout = i64::try_from(state.settings.payment_timeout_secs).unwrap_or(i64::MAX);
    let command = PlaceOrder {
        order_id,
        buyer: buyer.clone(),
        seller,
        items: lines
            .iter()
            .zip(snapshots)
            .map(|(line, snapshot)| ItemRequest {
                quantity: line.quantity,
                snapshot,
            })
            .collect(),
        discount: Money::zero(),
        placed_at: now,
        payment_due_at: now + Duration::seconds(timeout),
    };
    // Decide on the loaded state before touching stock: a repeat answers at once, and an
    // order the domain would refuse reserves nothing.
    let mut decided = existing
        .aggregate
        .decide(OrderCommand::PlaceOrder(command.clone()));
    if decided.is_err() && existing.version == 0 {
        // a refusal is given on the log's word, not on a presumption (a rejected id included:
        // the domain refuses to place it)
        existing = store.current::<Order>(&id).await?;
        decided = existing
            .aggregate
            .decide(OrderCommand::PlaceOrder(command.clone()));
    }
    let decided = decided.map_err(|err| err.to_problem())?;
    if decided.is_empty() {
        return Ok(answer(
            StatusCode::OK,
            &existing.aggregate,
            existing.version,
        ));
    }

    let meta = metadata(&req, &principal, None);
    let mut reserved_here: Vec<(SkuId, Quantity)> = Vec::new();
    let mut ordered: Vec<&ItemRequest> = command.items.iter().collect();
    ordered.sort_by(|a, b| a.snapshot.sku.cmp(&b.snapshot.sku));
    // every SKU at once: each is its own stream, and each reservation waits for its write
    let reservations = futures::future::join_all(
        ordered
            .iter()
            .map(|item| reserve(store, &meta, order_id, &item.snapshot.sku, item.quantity)),
    )
    .await;
    let mut refused = None;
    let mut failed = None;
    for (item, reservation) in ordered.iter().zip(reservations) {
        let sku = &item.snapshot.sku;
        match reservation {
            Ok(true) => reserved_here.push((sku.clone(), item.quantity)),
            Ok(false) => {}
            Err(ExecuteError::Domain(err)) => {
                refused.get_or_insert((sku.clone(), err));
            }
            Err(other) => {
                failed.get_or_insert(other);
            }
        }
    }
    // The store failed: what was reserved stays until the order id's placement is settled by
    // a later retry (or released as abandoned).
    if let Some(other) = failed {
        return Err(other.into());
    }
    if let Some((sku, err)) = refused {
        let reason = match err {
            SkuError::ReservationMismatch { .. } => RejectionReason::ConflictingPlacement { sku },
            _ => RejectionReason::OutOfStock { sku },
        };
        abandon(store, &meta, order_id, &buyer, reason, &reserved_here).await?;
        return Err(err.to_problem());
    }

    let order_meta = EventMetadata {
        dedup_key: Some(format!("place:{order_id}")),
        ..meta.clone()
    };
    let placed = execute::<Order, _>(store, &id, None, &order_meta, |order| {
        order.decide(OrderCommand::PlaceOrder(command.clone()))
    })
    .await;
    match placed {
        Ok(Executed {
            aggregate,
            version,
            appended,
        }) => {
            if aggregate.exists() {
                // the deadline is the deadline reaction's to record (a batch at a time)
                let status = if appended > 0 {
                    StatusCode::CREATED
                } else {
                    StatusCode::OK
                };
                Ok(answer(status, &aggregate, version))
            } else {
                // the dedup key found a rejection appended by a racing placement
                release(store, &meta, order_id, &reserved_here).await?;
                Err(OrderError::PlacementWasRejected.to_problem())
            }
        }
        Err(ExecuteError::Domain(err)) => {
            // Another placement of this id won with other content, or was rejected: give
            // back what this one reserved and the winner does not hold.
            let winner = store.load::<Order>(&id).await?.aggregate;
            let kept: Vec<(SkuId, Quantity)> = winner
                .items()
                .iter()
                .map(|item| (item.sku.clone(), item.quantity))
                .collect();
            let surplus: Vec<(SkuId, Quantity)> = reserved_here
                .into_iter()
                .filter(|reserved| !kept.contains(reserved))
                .collect();
            release(store, &meta, order_id, &surplus).await?;
            Err(err.to_problem())
        }
        Err(other) => Err(other.into()),
    }
}

fn answer(status: StatusCode, order: &Order, version: u64) -> HttpResponse {
    order_answer(status, order, version)
}

fn parse_lines(items: &[PlaceOrderItem]) -> Result<Vec<Line>, Problem> {
    if items.is_empty() {
        return Err(Problem::invalid_field(
            "items",
            "an order needs at least one item",
        ));
    }
    if items.len() > domain::ORDER_ITEMS_MAX {
        return Err(Problem::invalid_field(
            "items",
            format!("at most {} items", domain::ORDER_ITEMS_MAX),
        ));
    }
    let mut seen = BTreeMap::new();
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let sku = field(&format!("items[{i}].sku"), SkuId::parse(&item.sku))?;
            if seen.insert(sku.clone(), i).is_some() {
                return Err(Problem::invalid_field(
                    &format!("items[{i}].sku"),
                    "the same SKU twice: use one line with the total quantity",
                ));
            }
            Ok(Line {
                sku,
                quantity: field(
                    &format!("items[{i}].quantity"),
                    Quantity::new(item.quantity),
                )?,
                product_version: item.product_version,
            })
        })
        .collect()
}

/// Every line's current product snapshot, which must be the version the buyer saw, and all
/// from one seller. The products are checked as this process keeps them, at most the store's
/// staleness bound behind the log (ADR 16); a check that fails is made again on the log, so
/// a refusal is never given on a kept state.
async fn current_snapshots(
    store: &EventStore,
    lines: &[Line],
) -> Result<Vec<ProductSnapshot>, Problem> {
    let skus: Vec<&str> = lines.iter().map(|line| line.sku.as_str()).collect();
    let kept = store.load_many_fresh::<Product>(&skus).await?;
    match check_snapshots(&kept, lines) {
        Ok(snapshots) => Ok(snapshots),
        Err(_) => check_snapshots(&store.load_many::<Product>(&skus).await?, lines),
    }
}

/// The snapshots of `products` for `lines`, when each is the version the buyer saw, and all
/// from one seller.
fn check_snapshots(
    products: &HashMap<String, Loaded<Product>>,
    lines: &[Line],
) -> Result<Vec<ProductSnapshot>, Problem> {
    let mut snapshots: Vec<ProductSnapshot> = Vec::with_capacity(lines.len());
    for (i, line) in lines.iter().enumerate() {
        let Some(snapshot) = products
            .get(line.sku.as_str())
            .and_then(|product| product.aggregate.snapshot())
        else {
            return Err(Problem::invalid_field(
                &format!("items[{i}].sku"),
                format!("no product {}", line.sku),
            ));
        };
        if snapshot.version != line.product_version {
            return Err(Problem::new(
                StatusCode::CONFLICT,
                "product-changed",
                "The product changed, refresh",
            )
            .field(format!("items[{i}].product_version"))
            .detail(format!(
                "{} is at version {} (price {} cents), not {}",
                line.sku,
                snapshot.version,
                snapshot.unit_price.minor(),
                line.product_version
            )));
        }
        if let Some(first) = snapshots.first() {
            if first.seller != snapshot.seller {
                return Err(Problem::invalid_field(
                    &format!("items[{i}].sku"),
                    "all items of an order must come from one seller",
                ));
            }
        }
        snapshots.push(snapshot);
    }
    Ok(snapshots)
}

/// Reserves `quantity` of `sku` for the order; `true` when this call appended the reservation.
async fn reserve(
    store: &EventStore,
    meta: &EventMetadata,
    order_id: OrderId,
    sku: &SkuId,
    quantity: Quantity,
) -> Result<bool, ExecuteError<SkuError>> {
    let meta = EventMetadata {
        dedup_key: Some(format!("reserve:{order_id}")),
        ..meta.clone()
    };
    let command = ReserveStock {
        order_id,
        quantity,
        at: Utc::now(),
    };
    let executed = execute_with(
        store,
        sku.as_str(),
        None,
        &meta,
        |stock: &Sku| stock.decide(SkuCommand::ReserveStock(command.clone())),
        |_| (),
    )
    .await?;
    Ok(executed.appended > 0)
}

/// Claims the order id with a rejection, then releases what this placement reserved. When a
/// racing placement placed the order first, only what it does not hold is released.
async fn abandon(
    store: &EventStore,
    meta: &EventMetadata,
    order_id: OrderId,
    buyer: &BuyerId,
    reason: RejectionReason,
    reserved_here: &[(SkuId, Quantity)],
) -> Result<(), Problem> {
    let command = RejectPlacement {
        order_id,
        buyer: buyer.clone(),
        reason,
        at: Utc::now(),
    };
    let id = order_id.to_string();
    let rejected = execute::<Order, _>(store, &id, None, meta, |order| {
        order.decide(OrderCommand::RejectPlacement(command.clone()))
    })
    .await;
    let to_release: Vec<(SkuId, Quantity)> = match rejected {
        Ok(_) => reserved_here.to_vec(),
        Err(ExecuteError::Domain(OrderError::AlreadyPlaced)) => {
            let winner = store.load::<Order>(&id).await?.aggregate;
            reserved_here
                .iter()
                .filter(|(sku, qty)| {
                    !winner
                        .items()
                        .iter()
                        .any(|item| &item.sku == sku && item.quantity == *qty)
                })
                .cloned()
                .collect()
        }
        Err(other) => return Err(other.into()),
    };
    release(store, meta, order_id, &to_release).await
}

async fn release(
    store: &EventStore,
    meta: &EventMetadata,
    order_id: OrderId,
    reserved: &[(SkuId, Quantity)],
) -> Result<(), Problem> {
    let meta = EventMetadata {
        dedup_key: Some(format!("release:{order_id}")),
        ..meta.clone()
    };
    for (sku, _) in reserved {
        let command = ReleaseStock {
            order_id,
            at: Utc::now(),
        };
        execute_with(
            store,
            sku.as_str(),
            None,
            &meta,
            |stock: &Sku| stock.decide(SkuCommand::ReleaseStock(command.clone())),
            |_| (),
        )
        .await?;
    }
    Ok(())
}
