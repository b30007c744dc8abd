//! The flash-sale benchmark's Redis peer: the design's own original stack, where a campaign's
//! stock check-and-decrement is one Redis Lua script (`reserve.lua`, shared/bench's baseline
//! script) and nothing is durable: a Redis restart without persistence forgets every order.
//! The order platform must sell at least half as fast as this while keeping every reservation
//! in its log.
//!
//! A placement is four round trips on one multiplexed connection: claim the order id
//! (`SETNX`, so that a replayed request answers the first order and never reserves twice),
//! count the buyer's units against the campaign's limit (`INCRBY`, with the limit and price in
//! the same pipeline), the reservation script, and the order's answer stored under its id. A
//! refusal gives back what it took (the buyer's count, the claim), so a replay of a refused
//! request is refused again. Keys live under a prefix, so that runs and tests share a Redis.
//!
//! Like every peer it trusts the bearer token's subject unverified (`peer_http`'s docs). It
//! serves no payments: the place-pay comparison is the CRUD peer's.
#![warn(missing_docs)]

use peer_http::{
    Campaign, NewCampaign, NewProduct, Order, Payment, Peer, PeerError, Placed, Placement,
};
use redis::aio::ConnectionManager;
use redis::{AsyncCommands, Script};

/// Keys asked for in one `SCAN` step of [`RedisPeer::delete_keys`].
const SCAN_COUNT: u32 = 1_000;
/// What an order id's key holds while its placement runs; its answer replaces it.
const CLAIMED: &str = "claimed";

/// A peer keeping stock, campaigns and orders in Redis.
#[derive(Clone)]
pub struct RedisPeer {
    connection: ConnectionManager,
    prefix: String,
    reserve: Script,
}

impl RedisPeer {
    /// Connects to the Redis at `url` (e.g. `redis://127.0.0.1:6379`), keeping every key
    /// under `prefix:`.
    pub async fn connect(url: &str, prefix: &str) -> redis::RedisResult<Self> {
        let client = redis::Client::open(url)?;
        Ok(Self {
            connection: ConnectionManager::new(client).await?,
            prefix: prefix.to_owned(),
            reserve: Script::new(include_str!("reserve.lua")),
        })
    }

    /// The key `parts` name, under the prefix.
    pub fn key(&self, parts: &[&str]) -> String {
        let mut key = self.prefix.clone();
        for part in parts {
            key.push(':');
            key.push_str(part);
        }
        key
    }

    /// Deletes every key under the prefix (a test's or a run's, when it is done); answers how
    /// many there were.
    pub async fn delete_keys(&self) -> Result<u64, PeerError> {
        let mut connection = self.connection.clone();
        let pattern = format!("{}:*", self.prefix);
        let (mut cursor, mut deleted) = (0_u64, 0_u64);
        loop {
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(SCAN_COUNT)
                .query_async(&mut connection)
                .await
                .map_err(PeerError::store)?;
            if !keys.is_empty() {
                let n: u64 = connection.del(&keys).await.map_err(PeerError::store)?;
                deleted += n;
            }
            if next == 0 {
                return Ok(deleted);
            }
            cursor = next;
        }
    }

    /// Runs the reservation script on `stock_key`: the stock left after taking `qty`, or -1
    /// (taking nothing) when fewer than `qty` are left.
    pub async fn reserve(&self, stock_key: &str, qty: u32) -> Result<i64, PeerError> {
        let mut connection = self.connection.clone();
        self.reserve
            .key(stock_key)
            .arg(qty)
            .invoke_async(&mut connection)
            .await
            .map_err(PeerError::store)
    }

    /// Reserves `qty` of the campaign for `buyer`, within its limit per buyer; answers what
    /// the units cost.
    async fn reserve_campaign(
        &self,
        campaign_id: &str,
        buyer: &str,
        qty: u32,
    ) -> Result<i64, PeerError> {
        let mut connection = self.connection.clone();
        let bought = self.key(&["campaign", campaign_id, "buyer", buyer]);
        let (count, limit, price): (i64, Option<i64>, Option<i64>) = redis::pipe()
            .incr(&bought, qty)
            .get(self.key(&["campaign", campaign_id, "limit"]))
            .get(self.key(&["campaign", campaign_id, "price"]))
            .query_async(&mut connection)
            .await
            .map_err(PeerError::store)?;
        let refused = match (limit, price) {
            (Some(limit), Some(price)) if count <= limit => {
                let stock = self.key(&["campaign", campaign_id, "stock"]);
                if self.reserve(&stock, qty).await? >= 0 {
                    return Ok(price * i64::from(qty));
                }
                PeerError::SoldOut
            }
            (Some(_), Some(_)) => PeerError::LimitReached,
            _ => PeerError::NotFound("campaign"),
        };
        let _: i64 = connection
            .decr(&bought, qty)
            .await
            .map_err(PeerError::store)?;
        Err(refused)
    }

    /// Reserves every line on its SKU's stock, giving back what it took when one has too
    /// little; answers what the order costs.
    async fn reserve_lines(&self, lines: &[(String, u32)]) -> Result<i64, PeerError> {
        let mut connection = self.connection.clone();
        let price_keys: Vec<String> = lines
            .iter()
            .map(|(sku, _)| self.key(&["price", sku]))
            .collect();
        let prices: Vec<Option<i64>> = connection
            .mget(&price_keys)
            .await
            .map_err(PeerError::store)?;
        let mut total = 0_i64;
        for (taken, ((sku, qty), price)) in lines.iter().zip(&prices).enumerate() {
            let Some(price) = price else {
                self.give_back(&lines[..taken]).await?;
                return Err(PeerError::NotFound("product"));
            };
            if self.reserve(&self.key(&["stock", sku]), *qty).await? < 0 {
                self.give_back(&lines[..taken]).await?;
                return Err(PeerError::OutOfStock(sku.clone()));
            }
            total += price * i64::from(*qty);
        }
        Ok(total)
    }

    async fn give_back(&self, lines: &[(String, u32)]) -> Result<(), PeerError> {
        let mut pipe = redis::pipe();
        for (sku, qty) in lines {
            pipe.incr(self.key(&["stock", sku]), *qty).ignore();
        }
        let mut connection = self.connection.clone();
        pipe.query_async::<()>(&mut connection)
            .await
            .map_err(PeerError::store)
    }

    /// The answer of an order id claimed before: its order, or 409 while its first request
    /// still runs (or was refused a moment ago: a retry decides again).
    async fn again(&self, order_key: &str) -> Result<Placed, PeerError> {
        let mut connection = self.connection.clone();
        let stored: Option<String> = connection.get(order_key).await.map_err(PeerError::store)?;
        match stored.as_deref() {
            Some(json) if json != CLAIMED => serde_json::from_str(json)
                .map(Placed::Again)
                .map_err(PeerError::store),
            _ => Err(PeerError::InProgress),
        }
    }
}

impl Peer for RedisPeer {
    async fn create_product(&self, product: NewProduct) -> Result<(), PeerError> {
        let mut connection = self.connection.clone();
        redis::pipe()
            .set_nx(self.key(&["stock", &product.sku]), product.initial_stock)
            .ignore()
            .set_nx(self.key(&["price", &product.sku]), product.price_cents)
            .ignore()
            .query_async::<()>(&mut connection)
            .await
            .map_err(PeerError::store)
    }

    async fn create_campaign(
        &self,
        campaign_id: &str,
        campaign: &NewCampaign,
    ) -> Result<(), PeerError> {
        let mut connection = self.connection.clone();
        let key = |field: &str| self.key(&["campaign", campaign_id, field]);
        let stock = i64::from(campaign.stock);
        let fields = [
            (key("stock"), stock.to_string()),
            (key("initial"), stock.to_string()),
            (key("limit"), campaign.limit_per_buyer.to_string()),
            (key("price"), campaign.price_cents.to_string()),
            (key("sku"), campaign.sku.clone()),
        ];
        connection
            .mset::<_, _, ()>(&fields)
            .await
            .map_err(PeerError::store)
    }

    async fn campaign(&self, campaign_id: &str) -> Result<Campaign, PeerError> {
        let mut connection = self.connection.clone();
        let key = |field: &str| self.key(&["campaign", campaign_id, field]);
        let keys = [key("stock"), key("initial"), key("limit"), key("price")];
        let numbers: Vec<Option<i64>> = connection.mget(&keys).await.map_err(PeerError::store)?;
        let sku: Option<String> = connection.get(key("sku")).await.map_err(PeerError::store)?;
        match (numbers.as_slice(), sku) {
            ([Some(remaining), Some(stock), Some(limit), Some(price)], Some(sku)) => Ok(Campaign {
                campaign_id: campaign_id.to_owned(),
                sku,
                price_cents: *price,
                stock: *stock,
                remaining: *remaining,
                limit_per_buyer: *limit,
                status: "Running",
            }),
            _ => Err(PeerError::NotFound("campaign")),
        }
    }

    async fn place(&self, buyer: &str, placement: &Placement) -> Result<Placed, PeerError> {
        let lines = placement.lines()?;
        let quantity = match &placement.campaign_id {
            Some(_) => Some(placement.campaign_quantity()?),
            None => None,
        };
        let order_key = self.key(&["order", &placement.order_id]);
        let mut connection = self.connection.clone();
        let claimed: bool = connection
            .set_nx(&order_key, CLAIMED)
            .await
            .map_err(PeerError::store)?;
        if !claimed {
            return self.again(&order_key).await;
        }
        let total = match (&placement.campaign_id, quantity) {
            (Some(campaign_id), Some(qty)) => self.reserve_campaign(campaign_id, buyer, qty).await,
            _ => self.reserve_lines(&lines).await,
        };
        let total = match total {
            Ok(total) => total,
            Err(refused) => {
                let _: i64 = connection.del(&order_key).await.map_err(PeerError::store)?;
                return Err(refused);
            }
        };
        let order = Order {
            order_id: placement.order_id.clone(),
            buyer_id: buyer.to_owned(),
            status: "PendingPayment".to_owned(),
            total_cents: total,
            campaign_id: placement.campaign_id.clone(),
        };
        let json = serde_json::to_string(&order).map_err(PeerError::store)?;
        connection
            .set::<_, _, ()>(&order_key, json)
            .await
            .map_err(PeerError::store)?;
        Ok(Placed::New(order))
    }

    async fn notify(&self, _payment: &Payment) -> Result<(), PeerError> {
        Err(PeerError::NotServed)
    }
}
