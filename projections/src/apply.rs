//! A runner's batch: the events folded in memory and written, with the checkpoint, in one
//! transaction on the store's [`Db`], in statements both backends run as they are (the few
//! that differ by dialect are in `writes.rs`).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use cqrs_es::Aggregate;
use domain::{Order, OrderEvent, OrderSnapshot, SkuEvent};
use event_store::follower::Superseded;
use event_store::{Checkpoint, Db, DbTx, RecordedEvent};

use crate::backend::{to_i64, to_u64};
use crate::document::micros;
use crate::error::ProjectionError;
use crate::projection::{
    INIT_CHECKPOINT, LOAD_CHECKPOINT, Projection, SAVE_CHECKPOINT, Sql, StockChange,
};
use crate::rows::OrderRow;
use crate::writes::{StockMove, move_stocks, upsert_detail};

/// A batch's orders: their states as the views hold them, and the events of the batch folded
/// into them in memory, so that each order is read once and written once per batch.
#[derive(Default)]
struct OrderFold {
    /// Each order's state and version (absent: not in any view).
    states: HashMap<String, (Order, u64)>,
    /// Orders that changed, in the order they first changed, with the time of their last event.
    changed: Vec<String>,
    changed_at: HashMap<String, i64>,
}

impl OrderFold {
    /// Applies `event` to its order's state; an event already applied, or one that leaves the
    /// order without a document (a rejected placement), changes nothing.
    fn apply(&mut self, event: &RecordedEvent) -> Result<(), ProjectionError> {
        let version = self
            .states
            .get(&event.aggregate_id)
            .map_or(0, |(_, version)| *version);
        if event.sequence <= version {
            // the checkpoint makes this impossible; the guard keeps a view from going back
            return Ok(());
        }
        if version > 0 && event.sequence != version + 1 {
            return Err(ProjectionError::Corrupt(format!(
                "order {} is at version {version} in the view but the next event is {}",
                event.aggregate_id, event.sequence
            )));
        }
        let decoded = event.decode::<OrderEvent>()?;
        let (order, at) = self.states.entry(event.aggregate_id.clone()).or_default();
        order.apply(decoded);
        *at = event.sequence;
        if !order.exists() {
            // no document: nothing to show, and nothing kept
            if version == 0 {
                self.states.remove(&event.aggregate_id);
            }
            return Ok(());
        }
        if self
            .changed_at
            .insert(event.aggregate_id.clone(), micros(Some(event.recorded_at)))
            .is_none()
        {
            self.changed.push(event.aggregate_id.clone());
        }
        Ok(())
    }

    /// The changed orders' rows, for the detail view's upsert.
    fn rows(&self) -> Result<Vec<OrderRow>, ProjectionError> {
        let mut rows = Vec::with_capacity(self.changed.len());
        for id in &self.changed {
            let Some((order, version)) = self.states.get(id) else {
                continue;
            };
            let changed_at_us = self.changed_at.get(id).copied().unwrap_or_default();
            rows.extend(OrderRow::of(order, *version, changed_at_us)?);
        }
        Ok(rows)
    }
}

/// The summed deltas of one SKU's events in a batch, when they are all movements in
/// consecutive sequence; `None` when one creates the SKU (or the sequence has a gap), so that
/// they are applied one by one.
fn fold_moves(events: &[&RecordedEvent]) -> Result<Option<(i64, i64, i64)>, ProjectionError> {
    let mut sums = (0, 0, 0);
    for (i, event) in events.iter().enumerate() {
        if i > 0 && event.sequence != events[i - 1].sequence + 1 {
            return Ok(None);
        }
        match StockChange::of(&event.decode::<SkuEvent>()?) {
            StockChange::Created { .. } => return Ok(None),
            StockChange::Moved {
                available,
                reserved,
                sold,
            } => {
                sums.0 += available;
                sums.1 += reserved;
                sums.2 += sold;
            }
        }
    }
    Ok(Some(sums))
}

/// A JSON array of ids, as the `{ids}` statements take them.
fn id_array<'a>(ids: impl IntoIterator<Item = &'a String>) -> Result<String, ProjectionError> {
    Ok(serde_json::to_string(&ids.into_iter().collect::<Vec<_>>())?)
}

/// The projection's checkpoint (creating its row at the start of the log).
pub(crate) async fn load_checkpoint(
    db: &Db,
    name: &str,
    create: bool,
) -> Result<Checkpoint, ProjectionError> {
    if create {
        db.query(INIT_CHECKPOINT).bind(name).execute(db).await?;
    }
    // read only, a projection that never ran is at the start
    let Some(row) = db
        .query(LOAD_CHECKPOINT)
        .bind(name)
        .fetch_optional(db)
        .await?
    else {
        return Ok(Checkpoint::START);
    };
    Ok(Checkpoint {
        txid: to_u64(row.try_get("txid")?, "checkpoint txid")?,
        position: row.try_get("position")?,
    })
}

/// Applies `events` (read after `from`) and moves the checkpoint past them, in one
/// transaction: all of the batch takes effect, or none of it.
pub(crate) async fn apply_batch(
    db: &Db,
    projection: Projection,
    checkpoint_name: &'static str,
    from: Checkpoint,
    events: &[Arc<RecordedEvent>],
) -> Result<(), ProjectionError> {
    let Some(last) = events.last() else {
        return Ok(());
    };
    let sql = Sql::live(db.dialect());
    let to = last.checkpoint();
    let mut tx = db.begin().await?;
    // the checkpoint first: on SQLite the first statement takes the write lock, so the
    // transaction never has to upgrade from a read
    move_checkpoint(&mut tx, checkpoint_name, from, to).await?;
    let mine = events
        .iter()
        .map(|e| &**e)
        .filter(|e| e.aggregate_type == projection.aggregate_type());
    match projection {
        Projection::Orders => apply_orders(&mut tx, sql, mine).await?,
        Projection::Stock => apply_stocks(&mut tx, sql, mine).await?,
    }
    tx.commit().await?;
    Ok(())
}

/// Moves a checkpoint from `from` to `to`, or fails: another runner (or replay) moved it
/// first.
/// Moves the checkpoint from `from` to `to` with no rows: past a parked event.
pub(crate) async fn pass(
    db: &Db,
    checkpoint_name: &'static str,
    from: Checkpoint,
    to: Checkpoint,
) -> Result<(), ProjectionError> {
    let mut tx = db.begin().await?;
    move_checkpoint(&mut tx, checkpoint_name, from, to).await?;
    tx.commit().await?;
    Ok(())
}

async fn move_checkpoint(
    tx: &mut DbTx,
    name: &'static str,
    from: Checkpoint,
    to: Checkpoint,
) -> Result<(), ProjectionError> {
    let moved = tx
        .query(SAVE_CHECKPOINT)
        .bind(name)
        .bind(to_i64(to.txid, "txid")?)
        .bind(to.position)
        .bind(to_i64(from.txid, "txid")?)
        .bind(from.position)
        .execute(tx)
        .await?;
    if moved != 1 {
        return Err(ProjectionError::CheckpointMoved(name, Superseded));
    }
    Ok(())
}

/// Applies a batch's order events: reads every order they touch in one statement
/// (an order in no hot view is looked for in the archive), folds the events in
/// memory, and writes each changed order once (the lists are the detail view's
/// indexes).
async fn apply_orders<'e>(
    tx: &mut DbTx,
    sql: &Sql,
    events: impl Iterator<Item = &'e RecordedEvent> + Clone,
) -> Result<(), ProjectionError> {
    let mut ids: Vec<&String> = Vec::new();
    let mut seen = HashSet::new();
    for event in events.clone() {
        if seen.insert(&event.aggregate_id) {
            ids.push(&event.aggregate_id);
        }
    }
    if ids.is_empty() {
        return Ok(());
    }
    let mut fold = OrderFold::default();
    read_states(
        tx,
        &sql.order_states,
        &id_array(ids.iter().copied())?,
        &mut fold,
    )
    .await?;
    let mut archived = HashSet::new();
    if let Some(statement) = &sql.archived_states {
        // Not hot: archived, if anywhere. A late event brings it back; an event the
        // archived copy already holds (a replay moved the checkpoint back) changes
        // nothing. Looked up for a first event too: after a replay's swap an
        // archived order has no hot row, and its events are applied again.
        let cold: Vec<&String> = ids
            .iter()
            .copied()
            .filter(|id| !fold.states.contains_key(id.as_str()))
            .collect();
        if !cold.is_empty() {
            archived = read_states(tx, statement, &id_array(cold)?, &mut fold).await?;
        }
    }
    for event in events {
        fold.apply(event)?;
    }
    if fold.changed.is_empty() {
        return Ok(());
    }
    let back: Vec<&String> = fold
        .changed
        .iter()
        .filter(|id| archived.contains(id.as_str()))
        .collect();
    if !back.is_empty() {
        // these change again: back to the hot views, in this transaction, so each
        // is in exactly one place whatever happens
        tx.query(&sql.unarchive)
            .bind(id_array(back)?)
            .execute(&mut *tx)
            .await?;
    }
    upsert_detail(tx, sql, &fold.rows()?).await
}

/// Reads `(order_id, version, state)` rows into the fold's states; returns the ids
/// it found.
async fn read_states(
    tx: &mut DbTx,
    statement: &str,
    ids: &str,
    fold: &mut OrderFold,
) -> Result<HashSet<String>, ProjectionError> {
    let rows = tx.query(statement).bind(ids).fetch_all(&mut *tx).await?;
    let mut found = HashSet::with_capacity(rows.len());
    for row in rows {
        let order_id: String = row.try_get("order_id")?;
        let state: String = row.try_get("state")?;
        fold.states.insert(
            order_id.clone(),
            (
                Order::from(serde_json::from_str::<OrderSnapshot>(&state)?),
                to_u64(row.try_get("version")?, "version")?,
            ),
        );
        found.insert(order_id);
    }
    Ok(found)
}

/// Applies a batch's stock events: each SKU's movements fold into one row, and one
/// statement moves every SKU of the batch on top of its previous event. A SKU it
/// does not move (an event applied already, a corrupt view) and a SKU created in
/// the batch are applied event by event.
async fn apply_stocks<'e>(
    tx: &mut DbTx,
    sql: &Sql,
    events: impl Iterator<Item = &'e RecordedEvent>,
) -> Result<(), ProjectionError> {
    let mut skus: Vec<(&'e str, Vec<&'e RecordedEvent>)> = Vec::new();
    let mut index: HashMap<&'e str, usize> = HashMap::new();
    for event in events {
        let at = *index.entry(&event.aggregate_id).or_insert_with(|| {
            skus.push((&event.aggregate_id, Vec::new()));
            skus.len() - 1
        });
        skus[at].1.push(event);
    }
    let mut one_by_one: Vec<&RecordedEvent> = Vec::new();
    let mut folded: Vec<(&str, Vec<&RecordedEvent>)> = Vec::new();
    let mut moves = Vec::new();
    for (sku, sku_events) in skus {
        match fold_moves(&sku_events)? {
            Some((available, reserved, sold)) => {
                let first = sku_events.first().map_or(0, |e| e.sequence);
                let last = sku_events.last().map_or(0, |e| e.sequence);
                moves.push(StockMove {
                    sku,
                    available,
                    reserved,
                    sold,
                    from_version: to_i64(first, "sequence")? - 1,
                    version: to_i64(last, "sequence")?,
                });
                folded.push((sku, sku_events));
            }
            None => one_by_one.extend(sku_events),
        }
    }
    if !moves.is_empty() {
        let moved = move_stocks(tx, sql, &moves).await?;
        for (sku, sku_events) in folded {
            if !moved.contains(sku) {
                one_by_one.extend(sku_events);
            }
        }
    }
    for event in one_by_one {
        apply_stock(tx, sql, event).await?;
    }
    Ok(())
}

async fn apply_stock(
    tx: &mut DbTx,
    sql: &Sql,
    event: &RecordedEvent,
) -> Result<(), ProjectionError> {
    let sequence = to_i64(event.sequence, "sequence")?;
    match StockChange::of(&event.decode::<SkuEvent>()?) {
        StockChange::Created { seller, available } => {
            tx.query(&sql.stock_created)
                .bind(event.aggregate_id.as_str())
                .bind(seller)
                .bind(available)
                .bind(sequence)
                .execute(&mut *tx)
                .await?;
        }
        StockChange::Moved {
            available,
            reserved,
            sold,
        } => {
            let moved = tx
                .query(&sql.stock_moved)
                .bind(event.aggregate_id.as_str())
                .bind(available)
                .bind(reserved)
                .bind(sold)
                .bind(sequence)
                .execute(&mut *tx)
                .await?;
            if moved == 0 {
                let version: Option<i64> = tx
                    .query(&sql.stock_version)
                    .bind(event.aggregate_id.as_str())
                    .fetch_optional(&mut *tx)
                    .await?
                    .map(|row| row.try_get(0))
                    .transpose()?;
                // an event at or below the row's version was applied already
                if version.is_none_or(|v| v < sequence) {
                    return Err(ProjectionError::Corrupt(format!(
                        "SKU {} is at version {version:?} in the view but the \
                         next event is {sequence}",
                        event.aggregate_id
                    )));
                }
            }
        }
    }
    Ok(())
}
