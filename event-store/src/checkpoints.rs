//! Durable checkpoints of named subscribers whose effects are idempotent commands (so they can
//! save their checkpoint after acting, and act at least once).

use sqlx::Row;

use crate::store::Backend;
use crate::{Checkpoint, EventStore, StoreError};

const SAVE_PG: &str = "INSERT INTO subscription_checkpoints (name, txid, position) \
     VALUES ($1, $2, $3) ON CONFLICT (name) DO UPDATE \
     SET txid = EXCLUDED.txid, position = EXCLUDED.position, updated_at = now()";
const SAVE_SQLITE: &str = "INSERT INTO subscription_checkpoints (name, txid, position) \
     VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE \
     SET txid = excluded.txid, position = excluded.position, \
     updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')";
const LOAD_PG: &str = "SELECT txid, position FROM subscription_checkpoints WHERE name = $1";
const LOAD_SQLITE: &str = "SELECT txid, position FROM subscription_checkpoints WHERE name = ?";

impl EventStore {
    /// The saved checkpoint of subscriber `name`, or [`Checkpoint::START`].
    pub async fn load_checkpoint(&self, name: &str) -> Result<Checkpoint, StoreError> {
        let row = match &*self.backend {
            Backend::Postgres(b) => sqlx::query(LOAD_PG)
                .bind(name)
                .fetch_optional(&b.pool)
                .await?
                .map(|r| (r.try_get::<i64, _>("txid"), r.try_get::<i64, _>("position"))),
            Backend::Sqlite(b) => sqlx::query(LOAD_SQLITE)
                .bind(name)
                .fetch_optional(&b.pool)
                .await?
                .map(|r| (r.try_get::<i64, _>("txid"), r.try_get::<i64, _>("position"))),
        };
        match row {
            None => Ok(Checkpoint::START),
            Some((txid, position)) => Ok(Checkpoint {
                txid: u64::try_from(txid?)
                    .map_err(|_| StoreError::Corrupt(format!("checkpoint of {name}")))?,
                position: position?,
            }),
        }
    }

    /// Saves the checkpoint of subscriber `name`.
    pub async fn save_checkpoint(&self, name: &str, at: Checkpoint) -> Result<(), StoreError> {
        let txid = i64::try_from(at.txid)
            .map_err(|_| StoreError::Corrupt(format!("transaction id {}", at.txid)))?;
        match &*self.backend {
            Backend::Postgres(b) => {
                sqlx::query(SAVE_PG)
                    .bind(name)
                    .bind(txid)
                    .bind(at.position)
                    .execute(&b.pool)
                    .await?;
            }
            Backend::Sqlite(b) => {
                sqlx::query(SAVE_SQLITE)
                    .bind(name)
                    .bind(txid)
                    .bind(at.position)
                    .execute(&b.pool)
                    .await?;
            }
        }
        Ok(())
    }
}
