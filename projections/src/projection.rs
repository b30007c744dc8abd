//! The projections, what each event changes in them, and the SQL of their tables.

use std::sync::LazyLock;

/// A projection of the log with its own checkpoint.
///
/// `Orders` writes the order detail view, one row per order; the buyer's and the seller's
/// lists are its indexes (ADR 13). `Stock` writes the per-SKU stock view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Projection {
    /// Order detail, with the buyer's and the seller's lists.
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

pub(crate) use crate::stock_change::StockChange;

/// The archive of the order views: one table, never rebuilt by a replay (events do not move, so
/// a replay rebuilds every order, and the swap keeps each in one place: `swap_archive.sql`).
pub(crate) const ARCHIVE_TABLE: &str = "order_archive";

/// The seller view: with shards, each seller's orders on the seller's shard (ADR 45).
pub(crate) const SELLER_VIEW_TABLE: &str = "seller_orders";

/// The read-model tables one set of statements works on: the live ones, or shadow copies that
/// a replay fills before swapping them in.
#[derive(Debug, Clone)]
pub(crate) struct Tables {
    pub(crate) detail: &'static str,
    pub(crate) stock: &'static str,
    /// Whether an event for an order missing from `detail` looks for it in the archive (the
    /// live tables); a replay builds every order from the log instead.
    pub(crate) follows_archive: bool,
}

impl Tables {
    pub(crate) const LIVE: Self = Self {
        detail: "order_detail",
        stock: "sku_stock",
        follows_archive: true,
    };

    /// Where a replay builds the views before swapping them in.
    pub(crate) const SHADOW: Self = Self {
        detail: "order_detail_shadow",
        stock: "sku_stock_shadow",
        follows_archive: false,
    };
}

/// Where the two backends' SQL differs ([`fill`]); everything else is the same text.
pub(crate) use event_store::Dialect;

/// The columns of an order row that the order upserts read (`{order_rows}`).
const ORDER_ROW: &[(&str, &str)] = &[
    ("order_id", "text"),
    ("buyer_id", "text"),
    ("seller_id", "text"),
    ("status", "text"),
    ("placed_at_us", "bigint"),
    ("version", "bigint"),
    ("content_hash", "text"),
    ("state", "text"),
    ("changed_at_us", "bigint"),
];

/// The columns of a SKU's row (`{stock_rows}`).
const STOCK_ROW: &[(&str, &str)] = &[
    ("sku", "text"),
    ("seller_id", "text"),
    ("available", "bigint"),
    ("reserved", "bigint"),
    ("sold", "bigint"),
    ("version", "bigint"),
];

/// The columns of a SKU's folded stock movement (`{move_rows}`).
const MOVE_ROW: &[(&str, &str)] = &[
    ("sku", "text"),
    ("available", "bigint"),
    ("reserved", "bigint"),
    ("sold", "bigint"),
    ("from_version", "bigint"),
    ("version", "bigint"),
];

/// Fills the dialect's placeholders: `{for_update}` and `{skip_locked}` (row locks, which
/// SQLite has no need of: it runs one writing transaction at a time), `{in_ids}` (a
/// column's test for the ids of a JSON array bound as the first parameter), `{in_move_skus}`
/// (the same for the SKUs of `{move_rows}`, on PostgreSQL its first array), `{order_rows}`
/// and `{move_rows}`
/// ([`columns`]), and `{stock_rows}` (the rows of a JSON array of objects bound as
/// the first parameter, as a table `r`).
fn fill(dialect: Dialect, sql: &str) -> String {
    let (for_update, skip_locked, in_ids, in_move_skus) = match dialect {
        // An array is an index condition, one probe of the key per id. `IN (SELECT ...)`
        // made the planner guess a hundred ids and, on a view of some tens of thousands of
        // orders, hash a scan of all of them instead.
        Dialect::Postgres => (
            " FOR UPDATE",
            " FOR UPDATE SKIP LOCKED",
            "= ANY (ARRAY(SELECT json_array_elements_text(CAST($1 AS json))))",
            "= ANY ($1::text[])",
        ),
        Dialect::Sqlite => (
            "",
            "",
            "IN (SELECT value FROM json_each($1))",
            "IN (SELECT json_extract(value, '$.sku') FROM json_each($1))",
        ),
    };
    sql.replace("{for_update}", for_update)
        .replace("{skip_locked}", skip_locked)
        .replace("{in_ids}", in_ids)
        .replace("{in_move_skus}", in_move_skus)
        .replace("{order_rows}", &columns(dialect, ORDER_ROW))
        .replace("{move_rows}", &columns(dialect, MOVE_ROW))
        .replace("{stock_rows}", &rows(dialect, STOCK_ROW))
}

/// A batch's rows as a table `r` of `columns` ([`ORDER_ROW`], [`MOVE_ROW`]): on PostgreSQL
/// one array a column, bound as parameters 1, 2, ... in that order; on SQLite a JSON array
/// of objects.
fn columns(dialect: Dialect, columns: &[(&str, &str)]) -> String {
    match dialect {
        Dialect::Postgres => {
            let (arrays, names): (Vec<_>, Vec<_>) = columns
                .iter()
                .enumerate()
                .map(|(i, (name, kind))| (format!("${}::{kind}[]", i + 1), *name))
                .unzip();
            format!("UNNEST({}) AS r({})", arrays.join(", "), names.join(", "))
        }
        Dialect::Sqlite => rows(dialect, columns),
    }
}

/// A JSON array of objects bound as the first parameter, read as a table `r` of `columns`.
fn rows(dialect: Dialect, columns: &[(&str, &str)]) -> String {
    match dialect {
        Dialect::Postgres => format!(
            "json_to_recordset(CAST($1 AS json)) AS r({})",
            columns
                .iter()
                .map(|(name, kind)| format!("{name} {kind}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Dialect::Sqlite => format!(
            "(SELECT {} FROM json_each($1)) AS r",
            columns
                .iter()
                .map(|(name, _)| format!("json_extract(value, '$.{name}') AS {name}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

impl Projection {
    /// The live tables the projection writes.
    pub(crate) const fn tables(self) -> &'static [&'static str] {
        match self {
            Self::Orders => &["order_detail"],
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
    pub(crate) order_states: String,
    /// `None` on tables that do not follow the archive ([`Tables::follows_archive`]).
    pub(crate) archived_states: Option<String>,
    pub(crate) unarchive: String,
    pub(crate) upsert_detail: String,
    pub(crate) stock_created: String,
    pub(crate) stock_moved: String,
    pub(crate) stock_moves: String,
    pub(crate) stock_version: String,
    pub(crate) insert_stock: String,
    /// PostgreSQL only: a replay's COPY into the detail view.
    pub(crate) copy_detail: String,
    pub(crate) order_detail: String,
    pub(crate) order_copies: String,
    pub(crate) buyer_list: String,
    pub(crate) seller_list: String,
    /// A seller's hot list from the seller view of the seller's shard (ADR 45).
    pub(crate) seller_view_list: String,
    /// One order of a seller's hot list from the seller view.
    pub(crate) seller_view_row: String,
    /// The version of an order in a seller's hot list, from the seller view.
    pub(crate) seller_view_version: String,
    /// The version of an order in a seller's archive (the order's shard's archive).
    pub(crate) seller_archive_version: String,
    pub(crate) buyer_archive_list: String,
    pub(crate) seller_archive_list: String,
    pub(crate) sku_stock: String,
    pub(crate) buyer_row: String,
    pub(crate) seller_row: String,
    pub(crate) buyer_version: String,
    pub(crate) seller_version: String,
    pub(crate) count_orders: String,
    pub(crate) archive_claim: String,
    pub(crate) archive_count: String,
    pub(crate) archive_pick: String,
    pub(crate) archive_copy: String,
    pub(crate) archive_drop_detail: String,
    pub(crate) archive_mark: String,
    pub(crate) archive_progress: String,
    pub(crate) swap_archive: String,
}

pub(crate) const LOAD_CHECKPOINT: &str = include_str!("sql/load_checkpoint.sql");
pub(crate) const INIT_CHECKPOINT: &str = include_str!("sql/init_checkpoint.sql");
pub(crate) const STREAM_IDS: &str = include_str!("sql/order_ids.sql");
pub(crate) const SAVE_CHECKPOINT: &str = include_str!("sql/save_checkpoint.sql");

impl Sql {
    pub(crate) fn for_tables(t: &Tables, dialect: Dialect) -> Self {
        let fill = |sql: &str| {
            fill(
                dialect,
                &sql.replace("{detail}", t.detail)
                    .replace("{stock}", t.stock)
                    .replace("{archive}", ARCHIVE_TABLE),
            )
        };
        let list = |sql: &str, table: &str, owner: &str| {
            fill(&sql.replace("{list}", table).replace("{owner}", owner))
        };
        Self {
            order_states: fill(include_str!("sql/order_states.sql")),
            archived_states: t
                .follows_archive
                .then(|| fill(include_str!("sql/archived_states.sql"))),
            unarchive: fill(include_str!("sql/unarchive.sql")),
            upsert_detail: fill(include_str!("sql/upsert_detail.sql")),
            stock_created: fill(include_str!("sql/stock_created.sql")),
            stock_moved: fill(include_str!("sql/stock_moved.sql")),
            stock_moves: fill(include_str!("sql/stock_moves.sql")),
            stock_version: fill(include_str!("sql/stock_version.sql")),
            insert_stock: fill(include_str!("sql/insert_stock.sql")),
            copy_detail: format!(
                "COPY {} ({}) FROM STDIN (FORMAT binary)",
                t.detail,
                crate::rows::OrderRow::COPY_COLUMNS
            ),
            order_detail: fill(include_str!("sql/order_detail.sql")),
            order_copies: fill(include_str!("sql/order_copies.sql")),
            buyer_list: list(include_str!("sql/order_list.sql"), t.detail, "buyer_id"),
            seller_list: list(include_str!("sql/order_list.sql"), t.detail, "seller_id"),
            seller_view_list: list(
                include_str!("sql/order_list.sql"),
                SELLER_VIEW_TABLE,
                "seller_id",
            ),
            seller_view_row: list(
                &include_str!("sql/list_row.sql").replace("{detail}", SELLER_VIEW_TABLE),
                SELLER_VIEW_TABLE,
                "seller_id",
            ),
            seller_view_version: format!(
                "SELECT max(version) AS version FROM {SELLER_VIEW_TABLE} \
                 WHERE order_id = $2 AND seller_id = $1"
            ),
            seller_archive_version: format!(
                "SELECT max(version) AS version FROM {ARCHIVE_TABLE} \
                 WHERE order_id = $2 AND seller_id = $1"
            ),
            buyer_archive_list: list(
                include_str!("sql/order_list.sql"),
                ARCHIVE_TABLE,
                "buyer_id",
            ),
            seller_archive_list: list(
                include_str!("sql/order_list.sql"),
                ARCHIVE_TABLE,
                "seller_id",
            ),
            sku_stock: fill(include_str!("sql/sku_stock.sql")),
            buyer_row: list(include_str!("sql/list_row.sql"), t.detail, "buyer_id"),
            seller_row: list(include_str!("sql/list_row.sql"), t.detail, "seller_id"),
            buyer_version: list(include_str!("sql/listed_version.sql"), t.detail, "buyer_id"),
            seller_version: list(
                include_str!("sql/listed_version.sql"),
                t.detail,
                "seller_id",
            ),
            count_orders: fill(include_str!("sql/count_orders.sql")),
            archive_claim: fill(include_str!("sql/archive_claim.sql")),
            archive_count: fill(include_str!("sql/archive_count.sql")),
            archive_pick: fill(include_str!("sql/archive_pick.sql")),
            archive_copy: fill(include_str!("sql/archive_copy.sql")),
            archive_drop_detail: fill(include_str!("sql/archive_drop_detail.sql")),
            archive_mark: fill(include_str!("sql/archive_mark.sql")),
            archive_progress: fill(include_str!("sql/archive_progress.sql")),
            swap_archive: fill(include_str!("sql/swap_archive.sql")),
        }
    }

    /// The statements on the live tables.
    pub(crate) fn live(dialect: Dialect) -> &'static Self {
        static POSTGRES: LazyLock<Sql> =
            LazyLock::new(|| Sql::for_tables(&Tables::LIVE, Dialect::Postgres));
        static SQLITE: LazyLock<Sql> =
            LazyLock::new(|| Sql::for_tables(&Tables::LIVE, Dialect::Sqlite));
        match dialect {
            Dialect::Postgres => &POSTGRES,
            Dialect::Sqlite => &SQLITE,
        }
    }

    /// The statements on a replay's shadow tables.
    pub(crate) fn shadow(dialect: Dialect) -> &'static Self {
        static POSTGRES: LazyLock<Sql> =
            LazyLock::new(|| Sql::for_tables(&Tables::SHADOW, Dialect::Postgres));
        static SQLITE: LazyLock<Sql> =
            LazyLock::new(|| Sql::for_tables(&Tables::SHADOW, Dialect::Sqlite));
        match dialect {
            Dialect::Postgres => &POSTGRES,
            Dialect::Sqlite => &SQLITE,
        }
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
        for dialect in [Dialect::Postgres, Dialect::Sqlite] {
            for tables in [Tables::LIVE, Tables::SHADOW] {
                let sql = Sql::for_tables(&tables, dialect);
                for text in [
                    &sql.order_states,
                    &sql.unarchive,
                    &sql.upsert_detail,
                    &sql.stock_created,
                    &sql.stock_moved,
                    &sql.stock_moves,
                    &sql.stock_version,
                    &sql.insert_stock,
                    &sql.order_detail,
                    &sql.order_copies,
                    &sql.buyer_list,
                    &sql.seller_list,
                    &sql.buyer_archive_list,
                    &sql.seller_archive_list,
                    &sql.sku_stock,
                    &sql.buyer_row,
                    &sql.seller_row,
                    &sql.buyer_version,
                    &sql.seller_version,
                    &sql.count_orders,
                    &sql.archive_claim,
                    &sql.archive_pick,
                    &sql.archive_copy,
                    &sql.archive_drop_detail,
                    &sql.archive_mark,
                    &sql.archive_progress,
                    &sql.swap_archive,
                ]
                .into_iter()
                .chain(&sql.archived_states)
                {
                    assert!(!text.contains('{'), "unfilled placeholder in {text}");
                }
            }
        }
    }

    #[test]
    fn only_postgres_locks_rows() {
        // the statement without its comments
        let code = |sql: &str| {
            sql.lines()
                .filter(|l| !l.trim_start().starts_with("--"))
                .collect::<Vec<_>>()
                .join("\n")
        };
        let pg = Sql::live(Dialect::Postgres);
        let lite = Sql::live(Dialect::Sqlite);
        assert!(code(&pg.order_states).ends_with("FOR UPDATE"));
        assert!(code(&pg.archive_pick).ends_with("FOR UPDATE SKIP LOCKED"));
        assert!(!code(&lite.order_states).contains("FOR UPDATE"));
        assert!(!code(&lite.archive_pick).contains("FOR UPDATE"));
        assert!(lite.archive_copy.contains("json_each($1)"));
        assert!(pg.archive_copy.contains("json_array_elements_text"));
    }

    #[test]
    fn a_replay_never_reads_the_archive() {
        assert!(
            Sql::for_tables(&Tables::SHADOW, Dialect::Postgres)
                .archived_states
                .is_none()
        );
        assert!(Sql::live(Dialect::Postgres).archived_states.is_some());
    }

    /// The largest number of rows any scan in `plan` (EXPLAIN ANALYZE JSON) went through: those
    /// it returned and those its filter removed, over all its loops.
    fn largest_scan(plan: &serde_json::Value) -> u64 {
        let own = if plan["Node Type"]
            .as_str()
            .is_some_and(|node| node.ends_with("Scan"))
        {
            let rows = plan["Actual Rows"].as_u64().unwrap_or(0);
            let removed = plan["Rows Removed by Filter"].as_u64().unwrap_or(0);
            (rows + removed) * plan["Actual Loops"].as_u64().unwrap_or(1)
        } else {
            0
        };
        let children = plan["Plans"]
            .as_array()
            .map_or(0, |plans| plans.iter().map(largest_scan).max().unwrap_or(0));
        own.max(children)
    }

    /// The statements on a batch's orders guessed a hundred ids, and while the views held tens
    /// of thousands of orders the planner hashed a scan of the whole table (hot-sku read 2
    /// million detail rows in 8 s that way).
    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn a_batch_of_orders_is_read_by_their_ids_not_by_a_scan_of_the_view(pool: sqlx::PgPool) {
        for (table, prefix, archived) in
            [("order_detail", "d-", ""), ("order_archive", "a-", ", 0")]
        {
            let columns = if archived.is_empty() {
                ""
            } else {
                ", archived_at_us"
            };
            sqlx::query(&format!(
                "INSERT INTO {table} (order_id, buyer_id, seller_id, status, placed_at_us, \
                 version, content_hash, state, updated_at, changed_at_us{columns}) \
                 SELECT '{prefix}' || n, 'b', 's', 'Paid', n, 1, 'h', '{{}}', now(), n{archived} \
                 FROM generate_series(1, 5000) AS n"
            ))
            .execute(&pool)
            .await
            .unwrap();
            sqlx::query(&format!("ANALYZE {table}"))
                .execute(&pool)
                .await
                .unwrap();
        }
        let sql = Sql::live(Dialect::Postgres);
        let statements = [
            ("order_states", sql.order_states.as_str()),
            ("archive_copy", sql.archive_copy.as_str()),
            ("archive_drop_detail", sql.archive_drop_detail.as_str()),
            ("unarchive", sql.unarchive.as_str()),
        ]
        .into_iter()
        .chain(
            sql.archived_states
                .as_deref()
                .map(|s| ("archived_states", s)),
        );
        let ids = r#"["d-17", "d-4242", "a-99"]"#;
        for (name, statement) in statements {
            for plan_cache_mode in ["force_custom_plan", "force_generic_plan"] {
                let mut tx = pool.begin().await.unwrap();
                sqlx::query(&format!("SET LOCAL plan_cache_mode = {plan_cache_mode}"))
                    .execute(&mut *tx)
                    .await
                    .unwrap();
                let explain_sql = format!("EXPLAIN (ANALYZE, FORMAT JSON) {statement}");
                let mut explain = sqlx::query_scalar(&explain_sql).bind(ids);
                if statement.contains("$2") {
                    explain = explain.bind(0_i64);
                }
                let plan: serde_json::Value = explain.fetch_one(&mut *tx).await.unwrap();
                let top = &plan[0]["Plan"];
                assert!(
                    largest_scan(top) <= 3,
                    "{name}, {plan_cache_mode}: scanned more than the orders asked for: {top:#}"
                );
                tx.rollback().await.unwrap();
            }
        }
    }

    /// A batch's stock movements joined a hundred guessed rows with the view: on a catalogue of
    /// some thousands of SKUs the planner hashed a scan of every SKU's row, once per batch.
    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn a_batch_of_stock_moves_reads_its_skus_by_their_ids(pool: sqlx::PgPool) {
        sqlx::query(
            "INSERT INTO sku_stock (sku, seller_id, available, reserved, sold, version) \
             SELECT 'sku-' || n, 's', 100, 0, 0, 1 FROM generate_series(1, 5000) AS n",
        )
        .execute(&pool)
        .await
        .unwrap();
        sqlx::query("ANALYZE sku_stock")
            .execute(&pool)
            .await
            .unwrap();
        let explain = format!(
            "EXPLAIN (ANALYZE, FORMAT JSON) {}",
            Sql::live(Dialect::Postgres).stock_moves
        );
        // other SKUs each time: a rolled back move leaves index entries behind
        for (plan_cache_mode, skus) in [
            ("force_custom_plan", ["sku-17", "sku-4242"]),
            ("force_generic_plan", ["sku-18", "sku-4243"]),
        ] {
            let mut tx = pool.begin().await.unwrap();
            sqlx::query(&format!("SET LOCAL plan_cache_mode = {plan_cache_mode}"))
                .execute(&mut *tx)
                .await
                .unwrap();
            // in MOVE_ROW's order: sku, available, reserved, sold, from_version, version
            let plan: serde_json::Value = sqlx::query_scalar(&explain)
                .bind(skus)
                .bind([-1_i64, -1])
                .bind([1_i64, 1])
                .bind([0_i64, 0])
                .bind([1_i64, 1])
                .bind([2_i64, 2])
                .fetch_one(&mut *tx)
                .await
                .unwrap();
            let top = &plan[0]["Plan"];
            assert_eq!(
                top["Actual Rows"], 2,
                "{plan_cache_mode}: both moved: {top:#}"
            );
            assert!(
                largest_scan(top) <= 2,
                "{plan_cache_mode}: scanned more than the SKUs moved: {top:#}"
            );
            tx.rollback().await.unwrap();
        }
    }
}
