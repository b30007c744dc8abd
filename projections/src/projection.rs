//! The projections, what each event changes in them, and the SQL of their tables.

use std::sync::LazyLock;

use domain::SkuEvent;

/// A projection of the log with its own checkpoint.
///
/// `Orders` writes the three order views (detail, buyer, seller) in one transaction: they are
/// three shapes of one document, so one checkpoint keeps them equal. `Stock` writes the
/// per-SKU stock view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Projection {
    /// Order detail, buyer orders and seller orders.
    Orders,
    /// Stock per SKU.
    Stock,
}

impl Projection {
    /// Every projection.
    pub const ALL: [Self; 2] = [Self::Orders, Self::Stock];

    /// The stable name: the checkpoint's key and the `--projection` argument.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Orders => "orders",
            Self::Stock => "stock",
        }
    }

    /// The projection called `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.name() == name)
    }

    /// The aggregate type whose events it applies; it skips every other event.
    pub(crate) const fn aggregate_type(self) -> &'static str {
        match self {
            Self::Orders => "Order",
            Self::Stock => "Sku",
        }
    }
}

/// The change one stock event makes to its SKU's row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StockChange {
    /// The row starts.
    Created { seller: String, available: i64 },
    /// Deltas to (available, reserved, sold).
    Moved {
        available: i64,
        reserved: i64,
        sold: i64,
    },
}

impl StockChange {
    pub(crate) fn of(event: &SkuEvent) -> Self {
        let units = |q: domain::Quantity| i64::from(q.get());
        match event {
            SkuEvent::SkuCreated(e) => Self::Created {
                seller: e.seller.to_string(),
                available: i64::from(e.initial_stock),
            },
            SkuEvent::StockAdded(e) => Self::Moved {
                available: i64::from(e.quantity),
                reserved: 0,
                sold: 0,
            },
            SkuEvent::StockReserved(e) => Self::Moved {
                available: -units(e.quantity),
                reserved: units(e.quantity),
                sold: 0,
            },
            SkuEvent::StockReleased(e) => Self::Moved {
                available: units(e.quantity),
                reserved: -units(e.quantity),
                sold: 0,
            },
            SkuEvent::StockDeducted(e) => Self::Moved {
                available: 0,
                reserved: -units(e.quantity),
                sold: units(e.quantity),
            },
        }
    }
}

/// The read-model tables one set of statements works on: the live ones, or (later) shadow
/// copies that a replay fills before swapping them in.
#[derive(Debug, Clone)]
pub(crate) struct Tables {
    pub(crate) detail: &'static str,
    pub(crate) buyer: &'static str,
    pub(crate) seller: &'static str,
    pub(crate) stock: &'static str,
}

impl Tables {
    pub(crate) const LIVE: Self = Self {
        detail: "order_detail",
        buyer: "buyer_orders",
        seller: "seller_orders",
        stock: "sku_stock",
    };

    /// Where a replay builds the views before swapping them in.
    pub(crate) const SHADOW: Self = Self {
        detail: "order_detail_shadow",
        buyer: "buyer_orders_shadow",
        seller: "seller_orders_shadow",
        stock: "sku_stock_shadow",
    };
}

impl Projection {
    /// The live tables the projection writes.
    pub(crate) const fn tables(self) -> &'static [&'static str] {
        match self {
            Self::Orders => &["order_detail", "buyer_orders", "seller_orders"],
            Self::Stock => &["sku_stock"],
        }
    }

    /// The checkpoint of a replay of this projection into shadow tables.
    pub(crate) const fn replay_checkpoint(self) -> &'static str {
        match self {
            Self::Orders => "orders:replay",
            Self::Stock => "stock:replay",
        }
    }
}

/// Every statement of the read side, with its table names filled in.
#[derive(Debug)]
pub(crate) struct Sql {
    pub(crate) order_state: String,
    pub(crate) upsert_detail: String,
    pub(crate) upsert_buyer: String,
    pub(crate) upsert_seller: String,
    pub(crate) stock_created: String,
    pub(crate) stock_moved: String,
    pub(crate) stock_version: String,
    pub(crate) order_detail: String,
    pub(crate) buyer_list: String,
    pub(crate) seller_list: String,
    pub(crate) sku_stock: String,
    pub(crate) buyer_row: String,
    pub(crate) seller_row: String,
    pub(crate) count_orders: String,
}

pub(crate) const LOAD_CHECKPOINT: &str = include_str!("sql/load_checkpoint.sql");
pub(crate) const INIT_CHECKPOINT: &str = include_str!("sql/init_checkpoint.sql");
pub(crate) const STREAM_IDS: &str = include_str!("sql/order_ids.sql");
pub(crate) const SAVE_CHECKPOINT: &str = include_str!("sql/save_checkpoint.sql");

impl Sql {
    pub(crate) fn for_tables(t: &Tables) -> Self {
        let fill = |sql: &str| {
            sql.replace("{detail}", t.detail)
                .replace("{stock}", t.stock)
                .replace("{buyer}", t.buyer)
                .replace("{seller}", t.seller)
        };
        let list = |sql: &str, table: &str, owner: &str| {
            sql.replace("{list}", table).replace("{owner}", owner)
        };
        Self {
            order_state: fill(include_str!("sql/order_state.sql")),
            upsert_detail: fill(include_str!("sql/upsert_detail.sql")),
            upsert_buyer: list(include_str!("sql/upsert_list.sql"), t.buyer, "buyer_id"),
            upsert_seller: list(include_str!("sql/upsert_list.sql"), t.seller, "seller_id"),
            stock_created: fill(include_str!("sql/stock_created.sql")),
            stock_moved: fill(include_str!("sql/stock_moved.sql")),
            stock_version: fill(include_str!("sql/stock_version.sql")),
            order_detail: fill(include_str!("sql/order_detail.sql")),
            buyer_list: list(include_str!("sql/order_list.sql"), t.buyer, "buyer_id"),
            seller_list: list(include_str!("sql/order_list.sql"), t.seller, "seller_id"),
            sku_stock: fill(include_str!("sql/sku_stock.sql")),
            buyer_row: list(include_str!("sql/list_row.sql"), t.buyer, "buyer_id"),
            seller_row: list(include_str!("sql/list_row.sql"), t.seller, "seller_id"),
            count_orders: fill(include_str!("sql/count_orders.sql")),
        }
    }

    /// The statements on the live tables.
    pub(crate) fn live() -> &'static Self {
        static LIVE: LazyLock<Sql> = LazyLock::new(|| Sql::for_tables(&Tables::LIVE));
        &LIVE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn projections_are_found_by_name() {
        for p in Projection::ALL {
            assert_eq!(Projection::parse(p.name()), Some(p));
        }
        assert_eq!(Projection::parse("nope"), None);
    }

    #[test]
    fn every_statement_names_real_tables() {
        let sql = Sql::live();
        for text in [
            &sql.order_state,
            &sql.upsert_detail,
            &sql.upsert_buyer,
            &sql.upsert_seller,
            &sql.stock_created,
            &sql.stock_moved,
            &sql.order_detail,
            &sql.buyer_list,
            &sql.seller_list,
            &sql.sku_stock,
        ] {
            assert!(!text.contains('{'), "unfilled placeholder in {text}");
        }
    }
}
