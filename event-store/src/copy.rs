//! Moving genes between shards (ADR 42): the log's side of `orders reshard`. A copier reads
//! the source's log in commit order as stored (no upcasting, [`EventStore::read_stored_after`])
//! and appends the moving genes' events to the target with their stream, sequence, payload,
//! metadata and recorded time ([`EventStore::append_copies`]): idempotent on the stream's
//! sequence, its checkpoint saved in the target in the same transaction. A copy carries
//! `copied_from` in its metadata, so that the target's projections apply it while its
//! reactions and relay, whose work the source's did, pass it by ([`RecordedEvent::copied_from`]).
//! PostgreSQL only: the embedded store is one shard.
//!
//! [`RecordedEvent::copied_from`]: crate::RecordedEvent::copied_from

use std::collections::BTreeMap;
use std::ops::RangeInclusive;

use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Row};

use crate::fences::gene_column;
use crate::{Checkpoint, EventStore, StoreError, gene_of_stream};

/// The metadata key that marks a copy, naming the shard it was copied from.
pub(crate) const COPIED_FROM: &str = "copied_from";

/// The moving genes' events in a window of the log, read after `$1, $2` in commit order up to
/// `$3` rows under the readers' horizon (as `read_after.sql`); the payload and metadata only of
/// rows whose gene is in `$4..=$5` or unknown (written before genes were stored).
const READ_STORED_AFTER: &str = "\
    SELECT position, txid::text AS txid_text, aggregate_type, aggregate_id, sequence, \
           event_type, event_version, gene, recorded_at, \
           CASE WHEN gene IS NULL OR gene BETWEEN $4 AND $5 THEN payload::text END AS payload, \
           CASE WHEN gene IS NULL OR gene BETWEEN $4 AND $5 THEN metadata::text END AS metadata \
    FROM events \
    WHERE (txid, position) > ($1::text::xid8, $2) \
      AND txid < (SELECT log_horizon(pg_current_snapshot())) \
    ORDER BY txid, position \
    LIMIT $3";

/// Copies, appended as `insert_events.sql` appends (the writers' lock and the fences checked
/// once, before the first row), skipping each stream sequence the target already holds.
const INSERT_COPIES: &str = "\
    INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, \
                        payload, metadata, gene, recorded_at) \
    SELECT aggregate_type, aggregate_id, sequence, event_type, event_version, payload::json, \
           metadata::json, gene, recorded_at \
    FROM (SELECT * \
          FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[], \
                      $7::text[], $8::smallint[], $9::timestamptz[]) WITH ORDINALITY \
                   AS e(aggregate_type, aggregate_id, sequence, event_type, event_version, \
                        payload, metadata, gene, recorded_at, n) \
          ORDER BY n) AS ordered \
    WHERE (SELECT log_append_guard($8::smallint[])) = 1 \
    ON CONFLICT DO NOTHING";

const SAVE_CHECKPOINT: &str = "\
    INSERT INTO subscription_checkpoints (name, txid, position) VALUES ($1, $2, $3) \
    ON CONFLICT (name) DO UPDATE \
    SET txid = EXCLUDED.txid, position = EXCLUDED.position, updated_at = now()";

/// Streams with rows of no gene, up to `$1` of them.
const STREAMS_WITHOUT_GENE: &str = "\
    SELECT DISTINCT aggregate_type, aggregate_id FROM events WHERE gene IS NULL LIMIT $1";

const SET_GENES: &str = "\
    UPDATE events AS e SET gene = s.gene \
    FROM UNNEST($1::text[], $2::text[], $3::smallint[]) AS s(aggregate_type, aggregate_id, gene) \
    WHERE e.aggregate_type = s.aggregate_type AND e.aggregate_id = s.aggregate_id \
      AND e.gene IS NULL";

/// Each stream of genes `$1..=$2`: its head and a digest of its events (sequence, type,
/// version and payload as stored), counting only the events at or before the checkpoint
/// `$3, $4` in commit order when it is given.
const STREAM_DIGESTS: &str = "\
    SELECT aggregate_type, aggregate_id, max(sequence) AS head, \
           md5(string_agg(sequence || ' ' || event_type || ' ' || event_version || ' ' \
                          || payload::text, E'\\n' ORDER BY sequence)) AS digest \
    FROM events \
    WHERE gene BETWEEN $1 AND $2 \
      AND ($3::text IS NULL OR (txid, position) <= ($3::text::xid8, $4)) \
    GROUP BY aggregate_type, aggregate_id";

/// The digest of each named stream's events up to the sequence given with it.
const PREFIX_DIGESTS: &str = "\
    SELECT e.aggregate_type, e.aggregate_id, max(e.sequence) AS head, \
           md5(string_agg(e.sequence || ' ' || e.event_type || ' ' || e.event_version || ' ' \
                          || e.payload::text, E'\\n' ORDER BY e.sequence)) AS digest \
    FROM events AS e \
    JOIN UNNEST($1::text[], $2::text[], $3::bigint[]) AS s(aggregate_type, aggregate_id, head) \
      ON e.aggregate_type = s.aggregate_type AND e.aggregate_id = s.aggregate_id \
     AND e.sequence <= s.head \
    GROUP BY e.aggregate_type, e.aggregate_id";

/// An event as the log stores it, read for a copy.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    /// Its place in the log it was read from.
    pub checkpoint: Checkpoint,
    /// The stream's aggregate type.
    pub aggregate_type: String,
    /// The stream's id.
    pub aggregate_id: String,
    /// Its sequence in the stream.
    pub sequence: i64,
    /// Its type.
    pub event_type: String,
    /// Its payload's version, as stored.
    pub event_version: String,
    /// The stream's gene.
    pub gene: u16,
    /// When it was recorded.
    pub recorded_at: DateTime<Utc>,
    /// The payload's JSON text, as stored.
    pub payload: String,
    /// The metadata's JSON text, as stored.
    pub metadata: String,
}

/// A window of the log read for a copy: the events of the genes asked for, and where the
/// window ends (past events of other genes too).
#[derive(Debug, Clone, Default)]
pub struct StoredWindow {
    /// The events of the genes, in commit order.
    pub events: Vec<StoredEvent>,
    /// The checkpoint after the window's last row, of any gene; `None` for an empty window.
    pub end: Option<Checkpoint>,
    /// The rows the window read, of every gene.
    pub rows: usize,
}

/// A stream's head and the digest of its events ([`EventStore::stream_digests`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamDigest {
    /// The stream's last sequence.
    pub head: i64,
    /// md5 of its events' sequences, types, versions and payloads, in order.
    pub digest: String,
}

/// Streams by (aggregate type, id).
pub type StreamDigests = BTreeMap<(String, String), StreamDigest>;

impl EventStore {
    /// Copies have committed: a hint to the other processes' subscriptions (ADR 44).
    fn committed(&self) {
        if let crate::store::Backend::Postgres(backend) = &*self.backend {
            backend.hints().committed();
        }
    }

    fn copy_pool(&self) -> Result<&PgPool, StoreError> {
        self.postgres_pool()
            .ok_or(StoreError::NotOnSqlite("moving genes"))
    }

    /// Up to `limit` rows of the log after `after`, in commit order and under the readers'
    /// horizon (as [`EventStore::read_after`]), as stored: the events of `genes` whole, the
    /// others only counted.
    pub async fn read_stored_after(
        &self,
        after: Checkpoint,
        limit: usize,
        genes: &RangeInclusive<u16>,
    ) -> Result<StoredWindow, StoreError> {
        let rows = sqlx::query(READ_STORED_AFTER)
            .bind(after.txid.to_string())
            .bind(after.position)
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .bind(gene_column(*genes.start())?)
            .bind(gene_column(*genes.end())?)
            .fetch_all(self.copy_pool()?)
            .await?;
        let mut window = StoredWindow {
            rows: rows.len(),
            ..StoredWindow::default()
        };
        for row in &rows {
            let checkpoint = Checkpoint {
                txid: row_txid(row)?,
                position: row.try_get("position")?,
            };
            window.end = Some(checkpoint);
            let aggregate_type: String = row.try_get("aggregate_type")?;
            let aggregate_id: String = row.try_get("aggregate_id")?;
            let gene = match row.try_get::<Option<i16>, _>("gene")? {
                Some(gene) => {
                    u16::try_from(gene).map_err(|_| StoreError::Corrupt(format!("gene {gene}")))?
                }
                None => gene_of_stream(&aggregate_type, &aggregate_id),
            };
            let (Some(payload), Some(metadata)) = (
                row.try_get::<Option<String>, _>("payload")?,
                row.try_get::<Option<String>, _>("metadata")?,
            ) else {
                continue;
            };
            if !genes.contains(&gene) {
                continue;
            }
            window.events.push(StoredEvent {
                checkpoint,
                aggregate_type,
                aggregate_id,
                sequence: row.try_get("sequence")?,
                event_type: row.try_get("event_type")?,
                event_version: row.try_get("event_version")?,
                gene,
                recorded_at: row.try_get("recorded_at")?,
                payload,
                metadata,
            });
        }
        Ok(window)
    }

    /// Appends copies of `events`, read from shard `source`, and saves the copier's
    /// checkpoint `name` at `to` in the same transaction; a stream sequence this log already
    /// holds is skipped (a copy made before, when a copier runs again). Each copy keeps its
    /// recorded time and carries `copied_from` in its metadata. Returns how many were new.
    pub async fn append_copies(
        &self,
        source: &str,
        events: &[StoredEvent],
        name: &str,
        to: Checkpoint,
    ) -> Result<u64, StoreError> {
        let n = events.len();
        let mut columns = CopyColumns::with_capacity(n);
        for event in events {
            columns.push(event, source)?;
        }
        let mut tx = crate::begin(self.copy_pool()?).await?;
        let mut copied = 0;
        if n > 0 {
            copied = sqlx::query(INSERT_COPIES)
                .bind(columns.aggregate_types)
                .bind(columns.aggregate_ids)
                .bind(columns.sequences)
                .bind(columns.event_types)
                .bind(columns.event_versions)
                .bind(columns.payloads)
                .bind(columns.metadata)
                .bind(columns.genes)
                .bind(columns.recorded_at)
                .execute(&mut *tx)
                .await
                .map_err(crate::fences::moved)?
                .rows_affected();
        }
        sqlx::query(SAVE_CHECKPOINT)
            .bind(name)
            .bind(i64::try_from(to.txid).unwrap_or(i64::MAX))
            .bind(to.position)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        if copied > 0 {
            self.committed();
        }
        Ok(copied)
    }

    /// Stores the gene of up to `limit` streams whose rows were written before genes were
    /// (migration 0045); 0 when none is left.
    pub async fn backfill_genes(&self, limit: usize) -> Result<u64, StoreError> {
        let pool = self.copy_pool()?;
        let streams: Vec<(String, String)> = sqlx::query_as(STREAMS_WITHOUT_GENE)
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(pool)
            .await?;
        if streams.is_empty() {
            return Ok(0);
        }
        let genes = streams
            .iter()
            .map(|(t, id)| gene_column(gene_of_stream(t, id)))
            .collect::<Result<Vec<_>, _>>()?;
        let (types, ids): (Vec<String>, Vec<String>) = streams.into_iter().unzip();
        let n = types.len();
        sqlx::query(SET_GENES)
            .bind(types)
            .bind(ids)
            .bind(genes)
            .execute(pool)
            .await?;
        Ok(u64::try_from(n).unwrap_or(u64::MAX))
    }

    /// Every stream of `genes` with its head and digest, counting only the events at or
    /// before `upto` in commit order when it is given (rows of no gene are not seen:
    /// [`EventStore::backfill_genes`] first).
    pub async fn stream_digests(
        &self,
        genes: &RangeInclusive<u16>,
        upto: Option<Checkpoint>,
    ) -> Result<StreamDigests, StoreError> {
        let rows = sqlx::query(STREAM_DIGESTS)
            .bind(gene_column(*genes.start())?)
            .bind(gene_column(*genes.end())?)
            .bind(upto.map(|at| at.txid.to_string()))
            .bind(upto.map_or(0, |at| at.position))
            .fetch_all(self.copy_pool()?)
            .await?;
        rows.iter().map(digest_row).collect()
    }

    /// The digest of each of `streams` counting only its events up to the head given for it
    /// (the target's side of a comparison with the source's [`EventStore::stream_digests`]).
    pub async fn prefix_digests(
        &self,
        streams: &StreamDigests,
    ) -> Result<StreamDigests, StoreError> {
        let mut types = Vec::with_capacity(streams.len());
        let mut ids = Vec::with_capacity(streams.len());
        let mut heads = Vec::with_capacity(streams.len());
        for ((t, id), digest) in streams {
            types.push(t.as_str());
            ids.push(id.as_str());
            heads.push(digest.head);
        }
        let rows = sqlx::query(PREFIX_DIGESTS)
            .bind(types)
            .bind(ids)
            .bind(heads)
            .fetch_all(self.copy_pool()?)
            .await?;
        rows.iter().map(digest_row).collect()
    }

    /// Fences every gene of `genes` off this database for the map version `map_version`
    /// ([`EventStore::fence_gene`], in one statement and one wait for the appends in flight).
    pub async fn fence_genes(
        &self,
        genes: &RangeInclusive<u16>,
        map_version: u64,
    ) -> Result<(), StoreError> {
        let pool = self.copy_pool()?;
        let version = i64::try_from(map_version)
            .map_err(|_| StoreError::Corrupt(format!("map version {map_version}")))?;
        sqlx::query(
            "INSERT INTO gene_fences (gene, map_version) \
             SELECT g, $3 FROM generate_series($1::int, $2::int) AS g \
             ON CONFLICT (gene) DO NOTHING",
        )
        .bind(i32::from(*genes.start()))
        .bind(i32::from(*genes.end()))
        .bind(version)
        .execute(pool)
        .await?;
        crate::fences::appends_in_flight_ended(pool).await
    }

    /// Lifts the fences of `genes` (a target taking genes back that it once gave away).
    pub async fn lift_fences(&self, genes: &RangeInclusive<u16>) -> Result<u64, StoreError> {
        Ok(
            sqlx::query("DELETE FROM gene_fences WHERE gene BETWEEN $1 AND $2")
                .bind(gene_column(*genes.start())?)
                .bind(gene_column(*genes.end())?)
                .execute(self.copy_pool()?)
                .await?
                .rows_affected(),
        )
    }

    /// Deletes up to `limit` events of `genes` (a moved copy retired); 0 when none is left.
    pub async fn delete_genes(
        &self,
        genes: &RangeInclusive<u16>,
        limit: usize,
    ) -> Result<u64, StoreError> {
        Ok(sqlx::query(
            "DELETE FROM events WHERE ctid = ANY (ARRAY( \
                 SELECT ctid FROM events WHERE gene BETWEEN $1 AND $2 LIMIT $3))",
        )
        .bind(gene_column(*genes.start())?)
        .bind(gene_column(*genes.end())?)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .execute(self.copy_pool()?)
        .await?
        .rows_affected())
    }
}

fn row_txid(row: &PgRow) -> Result<u64, StoreError> {
    let text: String = row.try_get("txid_text")?;
    text.parse()
        .map_err(|_| StoreError::Corrupt(format!("transaction id {text}")))
}

fn digest_row(row: &PgRow) -> Result<((String, String), StreamDigest), StoreError> {
    Ok((
        (row.try_get("aggregate_type")?, row.try_get("aggregate_id")?),
        StreamDigest {
            head: row.try_get("head")?,
            digest: row.try_get("digest")?,
        },
    ))
}

/// The copies' columns, as [`INSERT_COPIES`] binds them.
struct CopyColumns {
    aggregate_types: Vec<String>,
    aggregate_ids: Vec<String>,
    sequences: Vec<i64>,
    event_types: Vec<String>,
    event_versions: Vec<String>,
    payloads: Vec<String>,
    metadata: Vec<String>,
    genes: Vec<i16>,
    recorded_at: Vec<DateTime<Utc>>,
}

impl CopyColumns {
    fn with_capacity(n: usize) -> Self {
        Self {
            aggregate_types: Vec::with_capacity(n),
            aggregate_ids: Vec::with_capacity(n),
            sequences: Vec::with_capacity(n),
            event_types: Vec::with_capacity(n),
            event_versions: Vec::with_capacity(n),
            payloads: Vec::with_capacity(n),
            metadata: Vec::with_capacity(n),
            genes: Vec::with_capacity(n),
            recorded_at: Vec::with_capacity(n),
        }
    }

    fn push(&mut self, event: &StoredEvent, source: &str) -> Result<(), StoreError> {
        let mut metadata: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&event.metadata)?;
        metadata.insert(COPIED_FROM.to_owned(), source.into());
        self.aggregate_types.push(event.aggregate_type.clone());
        self.aggregate_ids.push(event.aggregate_id.clone());
        self.sequences.push(event.sequence);
        self.event_types.push(event.event_type.clone());
        self.event_versions.push(event.event_version.clone());
        self.payloads.push(event.payload.clone());
        self.metadata.push(serde_json::to_string(&metadata)?);
        self.genes.push(gene_column(event.gene)?);
        self.recorded_at.push(event.recorded_at);
        Ok(())
    }
}
