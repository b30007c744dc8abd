//! The map's versions in the default database: each written once, whole, in one transaction;
//! the newest in force. A database that never had one is on version 1, every gene on the
//! default shard ([`ShardMap::single`]).

use sqlx::{PgPool, Row};

use crate::map::{Assignment, GeneRange, MapError, ShardMap, ShardName};

/// Why the map could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed.
    #[error("shard map: {0}")]
    Database(#[from] sqlx::Error),
    /// The version to write is not the one after the newest: another writer changed the map
    /// since it was read.
    #[error("shard map version {tried} does not follow the newest, {newest}: read it again")]
    Conflict {
        /// The version refused.
        tried: u64,
        /// The newest stored version.
        newest: u64,
    },
    /// A stored version that is not a map (rows edited by hand).
    #[error("shard map version {version} is not valid: {cause}")]
    Corrupt {
        /// The version read.
        version: u64,
        /// What is wrong with it.
        cause: MapError,
    },
}

/// What is written down about a stored version besides its map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionNote {
    /// The version.
    pub version: u64,
    /// When it was written, RFC 3339 in UTC.
    pub created_at: String,
    /// What changed, as its writer said.
    pub note: String,
}

/// The map's versions on a PostgreSQL pool of the default database.
#[derive(Debug, Clone)]
pub struct MapStore {
    pool: PgPool,
}

impl MapStore {
    /// The versions stored in `pool`'s database.
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// The newest version: 1 when none was ever written. Cheap (one index lookup), for nodes
    /// that poll for a change.
    pub async fn newest_version(&self) -> Result<u64, StoreError> {
        let newest: Option<i64> = sqlx::query_scalar("SELECT max(version) FROM shard_map_versions")
            .fetch_one(&self.pool)
            .await?;
        Ok(newest.and_then(|v| u64::try_from(v).ok()).unwrap_or(1))
    }

    /// When the newest version was written and why; `None` when none ever was (version 1,
    /// every gene on the default shard, is implied).
    pub async fn newest_note(&self) -> Result<Option<VersionNote>, StoreError> {
        let row = sqlx::query(
            "SELECT version, note, \
                    to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') \
                        AS created_at \
             FROM shard_map_versions ORDER BY version DESC LIMIT 1",
        )
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|row| VersionNote {
            version: u64::try_from(row.get::<i64, _>("version")).unwrap_or(0),
            created_at: row.get("created_at"),
            note: row.get("note"),
        }))
    }

    /// The map in force: the newest version, or every gene on the default shard when none was
    /// ever written.
    pub async fn newest(&self) -> Result<ShardMap, StoreError> {
        let version = self.newest_version().await?;
        let rows = sqlx::query(
            "SELECT gene_from, gene_to, read_shard, write_shard FROM shard_map \
             WHERE version = $1 ORDER BY gene_from",
        )
        .bind(i64::try_from(version).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await?;
        if rows.is_empty() && version == 1 {
            return Ok(ShardMap::single(ShardName::default_shard()));
        }
        let corrupt = |cause| StoreError::Corrupt { version, cause };
        let ranges = rows
            .iter()
            .map(|row| {
                let gene = |column| {
                    let value: i32 = row.get(column);
                    u16::try_from(value).map_err(|_| MapError::GeneOutOfRange(value.unsigned_abs()))
                };
                Ok(GeneRange {
                    genes: gene("gene_from")?..=gene("gene_to")?,
                    assignment: Assignment {
                        read: row.get::<String, _>("read_shard").parse()?,
                        write: row.get::<String, _>("write_shard").parse()?,
                    },
                })
            })
            .collect::<Result<Vec<_>, MapError>>()
            .map_err(corrupt)?;
        ShardMap::from_ranges(version, &ranges).map_err(corrupt)
    }

    /// Writes `map` as the next version, with `note` (what changed, for `orders shards`).
    /// Refused with [`StoreError::Conflict`] unless its version follows the newest by one, so
    /// that of two writers who read the same map, one wins and the other reads again.
    pub async fn publish(&self, map: &ShardMap, note: &str) -> Result<(), StoreError> {
        let version = i64::try_from(map.version()).map_err(|_| StoreError::Corrupt {
            version: map.version(),
            cause: MapError::BadVersion(map.version()),
        })?;
        let mut tx = self.pool.begin().await?;
        // one writer at a time: the second waits here, then finds its version taken
        sqlx::query("LOCK TABLE shard_map_versions IN SHARE ROW EXCLUSIVE MODE")
            .execute(&mut *tx)
            .await?;
        let newest: Option<i64> = sqlx::query_scalar("SELECT max(version) FROM shard_map_versions")
            .fetch_one(&mut *tx)
            .await?;
        let newest = newest.unwrap_or(1);
        if version != newest + 1 {
            return Err(StoreError::Conflict {
                tried: map.version(),
                newest: u64::try_from(newest).unwrap_or(0),
            });
        }
        sqlx::query("INSERT INTO shard_map_versions (version, note) VALUES ($1, $2)")
            .bind(version)
            .bind(note)
            .execute(&mut *tx)
            .await?;
        for range in map.ranges() {
            sqlx::query(
                "INSERT INTO shard_map (version, gene_from, gene_to, read_shard, write_shard) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(version)
            .bind(i32::from(*range.genes.start()))
            .bind(i32::from(*range.genes.end()))
            .bind(range.assignment.read.as_str())
            .bind(range.assignment.write.as_str())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
