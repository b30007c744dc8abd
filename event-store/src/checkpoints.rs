//! Durable checkpoints of named subscribers whose effects are idempotent commands (so they can
//! save their checkpoint after acting, and act at least once).

use crate::{Checkpoint, EventStore, StoreError};

const SAVE_PG: &str = "INSERT INTO subscription_checkpoints (name, txid, position) \
     VALUES ($1, $2, $3) ON CONFLICT (name) DO UPDATE \
     SET txid = EXCLUDED.txid, position = EXCLUDED.position, updated_at = now()";
const SAVE_SQLITE: &str = "INSERT INTO subscription_checkpoints (name, txid, position) \
     VALUES ($1, $2, $3) ON CONFLICT (name) DO UPDATE \
     SET txid = excluded.txid, position = excluded.position, \
     updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')";
const LOAD: &str = "SELECT txid, position FROM subscription_checkpoints WHERE name = $1";
const LIST: &str = "SELECT name, txid, position FROM subscription_checkpoints ORDER BY name";

impl EventStore {
    /// The saved checkpoint of subscriber `name`, or [`Checkpoint::START`].
    pub async fn load_checkpoint(&self, name: &str) -> Result<Checkpoint, StoreError> {
        let db = self.db();
        let row = db
            .query(LOAD)
            .bind(name)
            .fetch_optional(&db)
            .await?
            .map(|r| (r.try_get::<i64, _>("txid"), r.try_get::<i64, _>("position")));
        match row {
            None => Ok(Checkpoint::START),
            Some((txid, position)) => Ok(Checkpoint {
                txid: u64::try_from(txid?)
                    .map_err(|_| StoreError::Corrupt(format!("checkpoint of {name}")))?,
                position: position?,
            }),
        }
    }

    /// Every saved checkpoint, by subscriber name.
    pub async fn checkpoints(&self) -> Result<Vec<(String, Checkpoint)>, StoreError> {
        let db = self.db();
        db.query(LIST)
            .fetch_all(&db)
            .await?
            .iter()
            .map(|row| {
                let name: String = row.try_get("name")?;
                let txid: i64 = row.try_get("txid")?;
                Ok((
                    name.clone(),
                    Checkpoint {
                        txid: u64::try_from(txid)
                            .map_err(|_| StoreError::Corrupt(format!("checkpoint of {name}")))?,
                        position: row.try_get("position")?,
                    },
                ))
            })
            .collect()
    }

    /// Saves the checkpoint of subscriber `name`.
    pub async fn save_checkpoint(&self, name: &str, at: Checkpoint) -> Result<(), StoreError> {
        let txid = i64::try_from(at.txid)
            .map_err(|_| StoreError::Corrupt(format!("transaction id {}", at.txid)))?;
        let db = self.db();
        // the dialects name the time differently
        db.query(db.dialect().pick(SAVE_PG, SAVE_SQLITE))
            .bind(name)
            .bind(txid)
            .bind(at.position)
            .execute(&db)
            .await?;
        Ok(())
    }
}
