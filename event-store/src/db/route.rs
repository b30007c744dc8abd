//! The routing seam: which database holds a key's rows.
//!
//! An order id carries its buyer's gene in its low bits (the `ids` crate), a cart lives with
//! its buyer, a SKU's stock with its SKU: once the system runs on several PostgreSQL
//! databases, a versioned map from gene to database answers here, and every caller that asks
//! through [`Db::route`] follows it. SQLite stays one database.

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
}

impl Db {
    /// The database that holds `key`'s rows. One database today: this one.
    pub fn route(&self, key: Key<'_>) -> &Db {
        // the seam for the shard map: it reads the key's gene (an order id's low bits, a hash
        // of a buyer or SKU id) and answers that gene's database
        let _ = key;
        self
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

    /// Every database, for what sweeps all rows of a table (due deadlines, the archive, a
    /// replay). One today: this one.
    pub fn every(&self) -> impl Iterator<Item = &Db> {
        std::iter::once(self)
    }
}
