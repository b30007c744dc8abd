//! The writes whose statements differ by dialect (PostgreSQL binds a batch as one array a
//! column and fills a replay by COPY; SQLite reads JSON rows), and a replay's writes under its
//! claim.

use std::collections::HashSet;

use event_store::follower::Superseded;
use event_store::{Db, DbTx};
use sqlx::PgPool;

use crate::error::ProjectionError;
use crate::projection::Sql;
use crate::rebuild::{Rows, joined};
use crate::rows::OrderRow;

const HOLD_CLAIM_POSTGRES: &str = include_str!("sql/hold_claim_postgres.sql");
const HOLD_CLAIM_SQLITE: &str = include_str!("sql/hold_claim_sqlite.sql");

/// A batch's order rows into the detail view (an upsert).
pub(crate) async fn upsert_detail(
    tx: &mut DbTx,
    sql: &Sql,
    rows: &[OrderRow],
) -> Result<(), ProjectionError> {
    match tx {
        DbTx::Postgres(pg) => upsert_detail_columns(pg, sql, rows).await,
        DbTx::Sqlite(_) => upsert_detail_json(tx, sql, rows).await,
    }
}

/// A replay's order rows into its empty shadow detail view: by COPY on PostgreSQL.
async fn write_detail(tx: &mut DbTx, sql: &Sql, rows: &[OrderRow]) -> Result<(), ProjectionError> {
    match tx {
        DbTx::Postgres(pg) => copy_detail(pg, sql, rows).await,
        DbTx::Sqlite(_) => upsert_detail_json(tx, sql, rows).await,
    }
}

/// A batch's stock movements into the stock view. Returns the SKUs moved.
pub(crate) async fn move_stocks(
    tx: &mut DbTx,
    sql: &Sql,
    moves: &[StockMove<'_>],
) -> Result<HashSet<String>, ProjectionError> {
    match tx {
        DbTx::Postgres(pg) => move_stocks_columns(pg, sql, moves).await,
        DbTx::Sqlite(_) => move_stocks_json(tx, sql, moves).await,
    }
}

/// One write of a replay: `rows` into the empty shadow views, in a transaction that holds the
/// replay's claim on its checkpoint row: one that another replay has reset since fails, and a
/// reset waits for the writes in flight.
pub(crate) async fn replay_write(
    db: &Db,
    sql: &Sql,
    checkpoint_name: &'static str,
    claim: i64,
    rows: &Rows,
) -> Result<(), ProjectionError> {
    let mut tx = db.begin().await?;
    hold_claim(&mut tx, checkpoint_name, claim).await?;
    match rows {
        Rows::Orders(rows) => write_detail(&mut tx, sql, rows).await?,
        Rows::Stock(rows) => {
            tx.query(&sql.insert_stock)
                .bind(serde_json::to_string(rows)?)
                .execute(&mut tx)
                .await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

/// Holds a replay's claim for the transaction, or fails: another replay has reset it.
async fn hold_claim(
    tx: &mut DbTx,
    checkpoint_name: &'static str,
    claim: i64,
) -> Result<(), ProjectionError> {
    let hold = tx.dialect().pick(HOLD_CLAIM_POSTGRES, HOLD_CLAIM_SQLITE);
    let held = tx
        .query(hold)
        .bind(checkpoint_name)
        .bind(claim)
        .fetch_optional(&mut *tx)
        .await?;
    if held.is_none() {
        return Err(ProjectionError::CheckpointMoved(
            checkpoint_name,
            Superseded,
        ));
    }
    Ok(())
}

/// Runs each group of statements in a transaction of its own that holds a PostgreSQL
/// replay's claim (as `replay_write` does), the groups at once.
pub(crate) async fn replay_fill(
    pool: &PgPool,
    checkpoint_name: &'static str,
    claim: i64,
    groups: Vec<Vec<String>>,
) -> Result<(), ProjectionError> {
    let tasks: Vec<_> = groups
        .into_iter()
        .map(|statements| {
            let pool = pool.clone();
            tokio::spawn(async move {
                let mut tx = DbTx::Postgres(event_store::begin(&pool).await?);
                hold_claim(&mut tx, checkpoint_name, claim).await?;
                for statement in &statements {
                    tx.query(statement).execute(&mut tx).await?;
                }
                tx.commit().await?;
                Ok::<_, ProjectionError>(())
            })
        })
        .collect();
    for task in tasks {
        joined(task.await)??;
    }
    Ok(())
}

/// One SKU's movements in a batch, folded (`MOVE_ROW` of projection.rs): applied only on top
/// of the SKU's event before them, `from_version`.
#[derive(Debug, serde::Serialize)]
pub(crate) struct StockMove<'a> {
    pub(crate) sku: &'a str,
    pub(crate) available: i64,
    pub(crate) reserved: i64,
    pub(crate) sold: i64,
    pub(crate) from_version: i64,
    pub(crate) version: i64,
}

/// A batch's stock movements into PostgreSQL's stock view, one array a column (a JSON array of
/// rows made PostgreSQL build a hash table for each row, and parse the SKUs once more for
/// their key probe). Returns the SKUs moved.
async fn move_stocks_columns(
    tx: &mut sqlx::Transaction<'static, sqlx::Postgres>,
    sql: &Sql,
    moves: &[StockMove<'_>],
) -> Result<HashSet<String>, ProjectionError> {
    let number = |column: fn(&StockMove<'_>) -> i64| moves.iter().map(column).collect::<Vec<_>>();
    // in MOVE_ROW's order (projection.rs)
    let moved = sqlx::query_scalar(&sql.stock_moves)
        .bind(moves.iter().map(|m| m.sku).collect::<Vec<_>>())
        .bind(number(|m| m.available))
        .bind(number(|m| m.reserved))
        .bind(number(|m| m.sold))
        .bind(number(|m| m.from_version))
        .bind(number(|m| m.version))
        .fetch_all(&mut **tx)
        .await?;
    Ok(moved.into_iter().collect())
}

/// A batch's stock movements into SQLite's stock view, as the JSON array of rows the update
/// reads. Returns the SKUs moved.
async fn move_stocks_json(
    tx: &mut DbTx,
    sql: &Sql,
    moves: &[StockMove<'_>],
) -> Result<HashSet<String>, ProjectionError> {
    let mut moved = HashSet::with_capacity(moves.len());
    tx.query(&sql.stock_moves)
        .bind(serde_json::to_string(moves)?)
        .fetch_all_with(&mut *tx, |row| {
            moved.insert(row.try_get(0)?);
            Ok(())
        })
        .await?;
    Ok(moved)
}

/// A replay's order rows into PostgreSQL's empty shadow detail view, by COPY.
async fn copy_detail(
    tx: &mut sqlx::Transaction<'static, sqlx::Postgres>,
    sql: &Sql,
    rows: &[OrderRow],
) -> Result<(), ProjectionError> {
    let mut data = Vec::with_capacity(rows.iter().map(OrderRow::copy_len).sum());
    data.extend_from_slice(crate::rows::COPY_BINARY_HEADER);
    for row in rows {
        row.copy_tuple(&mut data);
    }
    data.extend_from_slice(crate::rows::COPY_BINARY_TRAILER);
    let mut copy = tx.copy_in_raw(&sql.copy_detail).await?;
    copy.send(data).await?;
    copy.finish().await?;
    Ok(())
}

/// A batch's order rows into PostgreSQL's detail view, one array a column: PostgreSQL reads
/// them as they are, where a JSON array of rows made it parse each order's state twice (the
/// cast to `json`, then `json_to_recordset`).
async fn upsert_detail_columns(
    tx: &mut sqlx::Transaction<'static, sqlx::Postgres>,
    sql: &Sql,
    rows: &[OrderRow],
) -> Result<(), ProjectionError> {
    if rows.is_empty() {
        return Ok(());
    }
    let text = |column: fn(&OrderRow) -> &str| rows.iter().map(column).collect::<Vec<_>>();
    let number = |column: fn(&OrderRow) -> i64| rows.iter().map(column).collect::<Vec<_>>();
    // in ORDER_ROW's order (projection.rs)
    sqlx::query(&sql.upsert_detail)
        .bind(text(|r| &r.order_id))
        .bind(text(|r| &r.buyer_id))
        .bind(text(|r| &r.seller_id))
        .bind(text(|r| &r.status))
        .bind(number(|r| r.placed_at_us))
        .bind(number(|r| r.version))
        .bind(text(|r| &r.content_hash))
        .bind(text(|r| &r.state))
        .bind(number(|r| r.changed_at_us))
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Order rows into SQLite's detail view (a batch's, or a replay's into its empty shadow
/// view), as the JSON array of rows the upsert reads.
async fn upsert_detail_json(
    tx: &mut DbTx,
    sql: &Sql,
    rows: &[OrderRow],
) -> Result<(), ProjectionError> {
    tx.query(&sql.upsert_detail)
        .bind(OrderRow::detail_json(rows)?)
        .execute(tx)
        .await?;
    Ok(())
}
