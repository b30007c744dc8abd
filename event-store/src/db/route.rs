//! The routing seam: which database holds a key's rows.
//!
//! An order id carries its buyer's gene in its low bits (the `ids` crate), a cart lives with
//! its buyer, a SKU's stock with its SKU: on several PostgreSQL databases the versioned map
//! from gene to database answers here ([`Routes`], plugged in by [`Db::routed`]), and every
//! caller that asks through [`Db::route`] follows it. SQLite stays one database.

use std::sync::Arc;

use super::Db;

/// What a statement's rows belong to, and so which database holds them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key<'a> {
    /// An order, by its decimal id (its low bits are the buyer's gene).
    Order(&'a str),
    /// A buyer's rows (their orders list, their cart).
    Buyer(&'a str),
    /// A SKU's rows (its stock).
    Sku(&'a str),
    /// A seller's rows (their orders list on several shards, ADR 45).
    Seller(&'a str),
}

impl Key<'_> {
    /// The key's partition gene ([`crate::gene_of_stream`]): an order's is the gene its id
    /// carries, a buyer's the hash of the buyer id, a SKU's the hash of the SKU id, a seller's
    /// the hash of the seller id.
    pub fn gene(&self) -> u16 {
        match self {
            Key::Order(id) => crate::gene_of_stream("Order", id),
            Key::Buyer(id) | Key::Seller(id) => crate::gene_of_buyer(id),
            Key::Sku(id) => crate::gene_of_stream("Sku", id),
        }
    }
}

/// The databases of several shards, by gene: what a [`Db`] made with [`Db::routed`] asks.
/// Implemented by the shard map's router (the `shards` crate), which reads the map in force
/// for each key.
pub trait Routes: std::fmt::Debug + Send + Sync {
    /// The database that holds `key`'s rows now.
    fn route(&self, key: Key<'_>) -> &Db;

    /// Every database, for sweeps.
    fn every(&self) -> Vec<&Db>;
}

impl Db {
    /// A handle on `self`'s database whose keys route through `routes` (the shards, ADR 42):
    /// statements run without a key still run here (the default shard).
    pub fn routed(self, routes: Arc<dyn Routes>) -> Db {
        Db {
            routes: Some(routes),
            ..self
        }
    }

    /// The database that holds `key`'s rows: this one, unless the handle routes by the
    /// shard map ([`Db::routed`]).
    pub fn route(&self, key: Key<'_>) -> &Db {
        match &self.routes {
            Some(routes) => routes.route(key),
            None => self,
        }
    }

    /// The database of the order `order_id` ([`Key::Order`]).
    pub fn for_order(&self, order_id: &str) -> &Db {
        self.route(Key::Order(order_id))
    }

    /// The database of the buyer `buyer_id`'s rows ([`Key::Buyer`]).
    pub fn for_buyer(&self, buyer_id: &str) -> &Db {
        self.route(Key::Buyer(buyer_id))
    }

    /// The database of the SKU `sku`'s rows ([`Key::Sku`]).
    pub fn for_sku(&self, sku: &str) -> &Db {
        self.route(Key::Sku(sku))
    }

    /// The database of the seller `seller_id`'s rows ([`Key::Seller`]).
    pub fn for_seller(&self, seller_id: &str) -> &Db {
        self.route(Key::Seller(seller_id))
    }

    /// Whether the handle routes by the shard map ([`Db::routed`]): the deployment has shards.
    pub fn is_routed(&self) -> bool {
        self.routes.is_some()
    }

    /// Every database, for what sweeps all rows of a table (due deadlines, the archive, a
    /// replay): this one, or every shard's when the handle routes.
    pub fn every(&self) -> Vec<&Db> {
        match &self.routes {
            Some(routes) => routes.every(),
            None => vec![self],
        }
    }
}
