//! The benchmarks' CRUD peer: how a plain service keeps stock and orders, one PostgreSQL
//! transaction per placement and one per payment, no log and no aggregates. The order platform
//! must sell a flash sale at least three times as fast as this, and place-and-pay 1.25 times.
//!
//! A placement is one transaction: the order's row first (`INSERT .. ON CONFLICT DO NOTHING`:
//! a replayed request finds its order and answers it, never taking stock twice), then for a
//! campaign the buyer's units against its limit (an upsert guarded by the limit), then each
//! line's `UPDATE stock SET available = available - $2 WHERE sku = $1 AND available >= $2` in
//! SKU order; a refusal rolls everything back. The row comes before the stock so that a replay
//! never waits on the hot stock row's lock, and the lock is held for the one statement and the
//! commit only: the fastest this shape goes. A payment is one transaction too: the order paid,
//! its reserved units sold.
//!
//! Like every peer it trusts the bearer token's subject and the payment notification
//! unverified (`peer_http`'s docs).
#![warn(missing_docs)]

use peer_http::{
    Campaign, NewCampaign, NewProduct, Order, Payment, Peer, PeerError, Placed, Placement,
};
use serde::{Deserialize, Serialize};
use sqlx::types::Json;
use sqlx::{PgPool, Postgres, Transaction};

/// The order's row, priced from the stock rows of its lines; none on a replay (or when a
/// line's SKU is unknown).
const INSERT_ORDER: &str = "\
    INSERT INTO orders (order_id, buyer_id, campaign_id, lines, total_cents, status) \
    SELECT $1, $2, $3, $4, sum(s.price_cents * l.qty), 'PendingPayment' \
    FROM jsonb_to_recordset($4) AS l(sku text, qty bigint) JOIN stock s ON s.sku = l.sku \
    HAVING count(*) = jsonb_array_length($4) \
    ON CONFLICT (order_id) DO NOTHING RETURNING total_cents";
/// The buyer's units of a campaign, counted only while within its limit; none beyond it.
const COUNT_BUYER: &str = "\
    INSERT INTO campaign_buyers (campaign_id, buyer_id, quantity) \
    SELECT sku, $2, $3 FROM stock WHERE sku = $1 AND $3 <= limit_per_buyer \
    ON CONFLICT (campaign_id, buyer_id) DO UPDATE \
    SET quantity = campaign_buyers.quantity + excluded.quantity \
    WHERE campaign_buyers.quantity + excluded.quantity \
          <= (SELECT limit_per_buyer FROM stock WHERE sku = excluded.campaign_id) \
    RETURNING quantity";
/// One line's reservation: the statement the benchmark names.
const RESERVE: &str = "\
    UPDATE stock SET available = available - $2, reserved = reserved + $2 \
    WHERE sku = $1 AND available >= $2";
/// The payment: the order paid when it is pending and the amount is its total.
const PAY: &str = "\
    UPDATE orders SET status = 'Paid', txn_id = $2 \
    WHERE order_id = $1 AND status = 'PendingPayment' AND total_cents = $3 RETURNING lines";
/// One line's units paid for: reserved to sold.
const SELL: &str = "UPDATE stock SET reserved = reserved - $2, sold = sold + $2 WHERE sku = $1";

/// A line as an order's row keeps it.
#[derive(Debug, Serialize, Deserialize)]
struct Line {
    sku: String,
    qty: i64,
}

/// A peer keeping stock, campaigns and orders in PostgreSQL.
#[derive(Clone)]
pub struct CrudPeer {
    pool: PgPool,
}

fn db(err: sqlx::Error) -> PeerError {
    PeerError::store(err)
}

impl CrudPeer {
    /// A peer on `pool`'s database, its tables made if missing.
    pub async fn new(pool: PgPool) -> Result<Self, sqlx::Error> {
        sqlx::raw_sql(include_str!("schema.sql"))
            .execute(&pool)
            .await?;
        Ok(Self { pool })
    }

    /// The order `order_id`, if there is one.
    async fn order(&self, order_id: &str) -> Result<Option<Order>, PeerError> {
        let row: Option<(String, String, i64, Option<String>)> = sqlx::query_as(
            "SELECT buyer_id, status, total_cents, campaign_id FROM orders WHERE order_id = $1",
        )
        .bind(order_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        Ok(
            row.map(|(buyer_id, status, total_cents, campaign_id)| Order {
                order_id: order_id.to_owned(),
                buyer_id,
                status,
                total_cents,
                campaign_id,
            }),
        )
    }

    /// Why a placement whose order row was not written was refused: its order exists (a
    /// replay), or a line names what does not exist.
    async fn not_written(&self, placement: &Placement) -> Result<Placed, PeerError> {
        match self.order(&placement.order_id).await? {
            Some(order) => Ok(Placed::Again(order)),
            None if placement.campaign_id.is_some() => Err(PeerError::NotFound("campaign")),
            None => Err(PeerError::NotFound("product")),
        }
    }

    /// The placement's statements after the order's row, in `tx`: `Err` refuses (and the
    /// caller rolls back).
    async fn reserve(
        tx: &mut Transaction<'static, Postgres>,
        buyer: &str,
        placement: &Placement,
        lines: &[(String, u32)],
    ) -> Result<(), PeerError> {
        if let Some(campaign_id) = &placement.campaign_id {
            let quantity = i64::from(placement.campaign_quantity()?);
            let counted: Option<i64> = sqlx::query_scalar(COUNT_BUYER)
                .bind(campaign_id)
                .bind(buyer)
                .bind(quantity)
                .fetch_optional(&mut **tx)
                .await
                .map_err(db)?;
            if counted.is_none() {
                return Err(PeerError::LimitReached);
            }
        }
        for (sku, qty) in lines {
            let reserved = sqlx::query(RESERVE)
                .bind(sku)
                .bind(i64::from(*qty))
                .execute(&mut **tx)
                .await
                .map_err(db)?
                .rows_affected();
            if reserved == 0 {
                return Err(match placement.campaign_id {
                    Some(_) => PeerError::SoldOut,
                    None => PeerError::OutOfStock(sku.clone()),
                });
            }
        }
        Ok(())
    }
}

impl Peer for CrudPeer {
    async fn create_product(&self, product: NewProduct) -> Result<(), PeerError> {
        sqlx::query(
            "INSERT INTO stock (sku, price_cents, initial, available) VALUES ($1, $2, $3, $3) \
             ON CONFLICT (sku) DO NOTHING",
        )
        .bind(&product.sku)
        .bind(product.price_cents)
        .bind(i64::from(product.initial_stock))
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn create_campaign(
        &self,
        campaign_id: &str,
        campaign: &NewCampaign,
    ) -> Result<(), PeerError> {
        sqlx::query(
            "INSERT INTO stock (sku, price_cents, initial, available, limit_per_buyer, \
             campaign_sku) VALUES ($1, $2, $3, $3, $4, $5)",
        )
        .bind(campaign_id)
        .bind(campaign.price_cents)
        .bind(i64::from(campaign.stock))
        .bind(i64::from(campaign.limit_per_buyer))
        .bind(&campaign.sku)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn campaign(&self, campaign_id: &str) -> Result<Campaign, PeerError> {
        let row: Option<(String, i64, i64, i64, i64)> = sqlx::query_as(
            "SELECT campaign_sku, price_cents, initial, available, limit_per_buyer FROM stock \
             WHERE sku = $1 AND campaign_sku IS NOT NULL",
        )
        .bind(campaign_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        let (sku, price_cents, stock, remaining, limit_per_buyer) =
            row.ok_or(PeerError::NotFound("campaign"))?;
        Ok(Campaign {
            campaign_id: campaign_id.to_owned(),
            sku,
            price_cents,
            stock,
            remaining,
            limit_per_buyer,
            status: "Running",
        })
    }

    async fn place(&self, buyer: &str, placement: &Placement) -> Result<Placed, PeerError> {
        let lines = match &placement.campaign_id {
            Some(campaign_id) => vec![(campaign_id.clone(), placement.campaign_quantity()?)],
            None => placement.lines()?,
        };
        let stored: Vec<Line> = lines
            .iter()
            .map(|(sku, qty)| Line {
                sku: sku.clone(),
                qty: i64::from(*qty),
            })
            .collect();
        let mut tx = self.pool.begin().await.map_err(db)?;
        let total: Option<i64> = sqlx::query_scalar(INSERT_ORDER)
            .bind(&placement.order_id)
            .bind(buyer)
            .bind(&placement.campaign_id)
            .bind(Json(&stored))
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
        let Some(total_cents) = total else {
            tx.rollback().await.map_err(db)?;
            return self.not_written(placement).await;
        };
        if let Err(refused) = Self::reserve(&mut tx, buyer, placement, &lines).await {
            tx.rollback().await.map_err(db)?;
            return Err(refused);
        }
        tx.commit().await.map_err(db)?;
        Ok(Placed::New(Order {
            order_id: placement.order_id.clone(),
            buyer_id: buyer.to_owned(),
            status: "PendingPayment".to_owned(),
            total_cents,
            campaign_id: placement.campaign_id.clone(),
        }))
    }

    async fn notify(&self, payment: &Payment) -> Result<(), PeerError> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        let lines: Option<Json<Vec<Line>>> = sqlx::query_scalar(PAY)
            .bind(&payment.order_id)
            .bind(&payment.txn_id)
            .bind(payment.amount_cents)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
        let Some(Json(lines)) = lines else {
            tx.rollback().await.map_err(db)?;
            return match self.order(&payment.order_id).await? {
                None => Err(PeerError::NotFound("order")),
                Some(order) if order.status == "Paid" => Ok(()),
                Some(order) => Err(PeerError::WrongAmount(order.total_cents)),
            };
        };
        for line in &lines {
            sqlx::query(SELL)
                .bind(&line.sku)
                .bind(line.qty)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        }
        tx.commit().await.map_err(db)?;
        Ok(())
    }
}
