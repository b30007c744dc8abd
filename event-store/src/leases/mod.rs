//! Leases: work that must run on one node at a time (a projection, a reaction, the relay) is
//! done by the node holding its lease, a row with an expiry on the database's clock. The
//! holder renews it well before it expires and gives it back when it stops; when the holder
//! dies, the lease expires and another node takes it. Taking and renewing are one statement
//! that succeeds only for a free or expired lease or the holder's own.

use std::time::Duration;

use crate::{DbRow, Dialect, EventStore, StoreError};

const ACQUIRE_PG: &str = include_str!("postgres_acquire.sql");
const ACQUIRE_SQLITE: &str = include_str!("sqlite_acquire.sql");
const LIST_PG: &str = include_str!("postgres_list.sql");
const LIST_SQLITE: &str = include_str!("sqlite_list.sql");
const RELEASE: &str = "DELETE FROM leases WHERE name = $1 AND holder = $2";

/// A lease as the database holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    /// What it is the lease of (`projection:order_list`, `relay`, …).
    pub name: String,
    /// The node holding it.
    pub holder: String,
    /// How long it has left, in ms; negative once expired (free to take).
    pub expires_in_ms: i64,
}

impl Lease {
    fn from_row(row: &DbRow) -> Result<Self, StoreError> {
        Ok(Self {
            name: row.try_get("name")?,
            holder: row.try_get("holder")?,
            expires_in_ms: row.try_get("expires_in_ms")?,
        })
    }

    /// Whether it is held (not expired).
    pub fn is_live(&self) -> bool {
        self.expires_in_ms > 0
    }
}

impl EventStore {
    /// Takes lease `name` for `holder` for `ttl`, or renews it when `holder` has it: `true`
    /// when `holder` holds it now, `false` when another holder's lease is live.
    pub async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let db = self.db();
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
        let query = db
            .query(db.dialect().pick(ACQUIRE_PG, ACQUIRE_SQLITE))
            .bind(name)
            .bind(holder);
        let query = match db.dialect() {
            Dialect::Postgres => query.bind(i64::try_from(ttl_ms).unwrap_or(i64::MAX)),
            Dialect::Sqlite => {
                query.bind(format!("+{}.{:03} seconds", ttl_ms / 1_000, ttl_ms % 1_000))
            }
        };
        Ok(query.fetch_optional(&db).await?.is_some())
    }

    /// Gives lease `name` back, if `holder` holds it, so that another node takes it at once.
    pub async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        let db = self.db();
        db.query(RELEASE)
            .bind(name)
            .bind(holder)
            .execute(&db)
            .await?;
        Ok(())
    }

    /// Every lease ever taken, by name, live or expired.
    pub async fn leases(&self) -> Result<Vec<Lease>, StoreError> {
        let db = self.db();
        db.query(db.dialect().pick(LIST_PG, LIST_SQLITE))
            .fetch_all(&db)
            .await?
            .iter()
            .map(Lease::from_row)
            .collect()
    }
}
