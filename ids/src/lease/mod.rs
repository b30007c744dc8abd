//! Worker-id leases in `id_worker_leases`: acquire, renew, release, on either backend.
//!
//! A lease is a row with an expiry set by the database's clock. `last_ms` is the owner's
//! promise that no id of the worker id has a later time; a new owner starts after it.

use event_store::Db;

use crate::IdError;
use crate::db::{bind_ttl, to_i64, to_u64};
use crate::layout::WORKER_ID_COUNT;

/// A freshly acquired worker id.
#[derive(Debug)]
pub(crate) struct Acquired {
    pub(crate) worker_id: u16,
    /// Earlier owners' ids all have times up to this (Unix ms); 0 for a new worker id.
    pub(crate) floor_ms: u64,
}

/// Leases the lowest free or expired worker id for `owner`, identified by `token`.
pub(crate) async fn acquire(
    db: &Db,
    owner: &str,
    token: &str,
    ttl_ms: u64,
) -> Result<Acquired, IdError> {
    // each lost race means another acquirer got a worker id, so this ends
    for _ in 0..=WORKER_ID_COUNT {
        let dialect = db.dialect();
        let acquire = dialect.pick(
            include_str!("postgres/acquire.sql"),
            include_str!("sqlite/acquire.sql"),
        );
        let query = db
            .query(acquire)
            .bind(i32::from(WORKER_ID_COUNT))
            .bind(owner)
            .bind(token);
        let row = bind_ttl(query, dialect, ttl_ms)
            .fetch_optional(db)
            .await?
            .map(|row| read_acquired(row.try_get("worker_id"), row.try_get("last_ms")));
        if let Some(acquired) = row {
            return acquired;
        }
        if live_count(db).await? >= i64::from(WORKER_ID_COUNT) {
            break;
        }
    }
    Err(IdError::NoFreeWorkerId {
        count: WORKER_ID_COUNT,
    })
}

fn read_acquired(
    worker_id: Result<i32, sqlx::Error>,
    last_ms: Result<i64, sqlx::Error>,
) -> Result<Acquired, IdError> {
    let worker_id = worker_id?;
    Ok(Acquired {
        worker_id: u16::try_from(worker_id)
            .map_err(|_| IdError::Corrupt(format!("worker id {worker_id}")))?,
        floor_ms: to_u64(last_ms?, "last_ms")?,
    })
}

async fn live_count(db: &Db) -> Result<i64, IdError> {
    let live_count = db.dialect().pick(
        include_str!("postgres/live_count.sql"),
        include_str!("sqlite/live_count.sql"),
    );
    Ok(db.query(live_count).fetch_one(db).await?.try_get(0)?)
}

/// Extends the lease held under `token` by `ttl_ms` and raises its promise to `promise_ms`;
/// `false` when another owner holds the worker id now.
pub(crate) async fn renew(
    db: &Db,
    worker_id: u16,
    token: &str,
    ttl_ms: u64,
    promise_ms: u64,
) -> Result<bool, IdError> {
    let dialect = db.dialect();
    let renew = dialect.pick(
        include_str!("postgres/renew.sql"),
        include_str!("sqlite/renew.sql"),
    );
    let query = db.query(renew).bind(i32::from(worker_id)).bind(token);
    let done = bind_ttl(query, dialect, ttl_ms)
        .bind(to_i64(promise_ms))
        .execute(db)
        .await?;
    Ok(done == 1)
}

/// Frees the worker id at once, recording the time of the last id actually issued; `false`
/// when another owner holds it now.
pub(crate) async fn release(
    db: &Db,
    worker_id: u16,
    token: &str,
    last_ms: u64,
) -> Result<bool, IdError> {
    // the dialects write the epoch differently
    let release = db.dialect().pick(
        include_str!("postgres/release.sql"),
        include_str!("sqlite/release.sql"),
    );
    let done = db
        .query(release)
        .bind(i32::from(worker_id))
        .bind(token)
        .bind(to_i64(last_ms))
        .execute(db)
        .await?;
    Ok(done == 1)
}
