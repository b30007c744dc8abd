//! Group commit: the appends of many concurrent commands written by one statement.
//!
//! postgres-es writes a command's events in a transaction of its own (`BEGIN`, one `INSERT` per
//! event, `COMMIT`): four round trips and a commit per command. Here an append is one row set
//! handed to a committer task, which writes every append waiting at that moment with one
//! `INSERT … SELECT FROM UNNEST` (one round trip, one commit) and answers each command when the
//! statement has committed, so a command is still answered only after its events are durable.
//! The rows are exactly those postgres-es writes, so its repository reads them unchanged.
//!
//! No latency is added to wait for company: a group is whatever arrived while the previous
//! groups were being written ([`FLUSHES_IN_FLIGHT_MAX`] at a time). A group that fails is
//! written again one append at a time, so that each append gets its own answer (a version or
//! dedup-key collision belongs to one command, not to the others of its group).
//!
//! The queue in front of the committer is bounded ([`APPENDS_QUEUED_MAX`]): when the database
//! falls behind, a command waits for room instead of piling its events up in memory.
//!
//! The committer writes on connections of its own, whose statements PostgreSQL cancels after
//! [`APPEND_STATEMENT_TIMEOUT_MS`]: a running append holds every reader of the log back (ADR 1),
//! so none may run for long, whatever it waits for.

use std::sync::Arc;
use std::time::Duration;

use super::hints::CommitHints;
use sqlx::{PgPool, Postgres};
use tokio::sync::{Semaphore, mpsc, oneshot};

/// Events one group writes at most.
const GROUP_ROWS_MAX: usize = 2_000;
/// Groups being written at the same time (each holds one pooled connection meanwhile).
const FLUSHES_IN_FLIGHT_MAX: usize = 4;
/// Appends waiting for a flush at most; beyond it, an append waits for room.
const APPENDS_QUEUED_MAX: usize = 4_096;
/// How long one append statement may run before PostgreSQL cancels it (and the append fails).
pub const APPEND_STATEMENT_TIMEOUT_MS: u64 = 5_000;
/// How long a flush waits for one of the committer's connections.
const WRITER_ACQUIRE_TIMEOUT_MS: u64 = 5_000;

/// One event as the `events` table stores it.
#[derive(Debug)]
pub(crate) struct EventRow {
    pub(crate) aggregate_type: String,
    pub(crate) aggregate_id: String,
    pub(crate) sequence: i64,
    pub(crate) event_type: String,
    pub(crate) event_version: String,
    pub(crate) payload: String,
    pub(crate) metadata: String,
    /// The stream's partition gene ([`crate::gene_of_stream`]), which the fences check.
    pub(crate) gene: i16,
}

struct Append {
    rows: Vec<EventRow>,
    reply: oneshot::Sender<Result<(), sqlx::Error>>,
}

/// The handle to a committer task; the task ends when the handle is dropped.
pub(crate) struct GroupCommitter {
    appends: mpsc::Sender<Append>,
    writers: PgPool,
    hints: CommitHints,
}

impl GroupCommitter {
    /// Starts the committer task on the current tokio runtime, writing on
    /// [`FLUSHES_IN_FLIGHT_MAX`] connections of its own to `pool`'s database (opened when
    /// needed), with the append statement timeout.
    /// Each commit asks `hints` for a hint to the other processes.
    pub(crate) fn start(pool: &PgPool, hints: CommitHints) -> Self {
        Self::start_with_queue(writers_of(pool), APPENDS_QUEUED_MAX, hints)
    }

    fn start_with_queue(writers: PgPool, queued_max: usize, hints: CommitHints) -> Self {
        let (appends, pending) = mpsc::channel(queued_max);
        tokio::spawn(run(writers.clone(), pending, hints.clone()));
        Self {
            appends,
            writers,
            hints,
        }
    }

    /// Writes `rows` (one command's events) with whatever other appends are waiting; returns
    /// once they are committed. When the committer task is gone (its runtime ended), writes
    /// them alone.
    pub(crate) async fn append(&self, rows: Vec<EventRow>) -> Result<(), sqlx::Error> {
        match self.enqueue(rows).await {
            Ok(answer) => match answer.await {
                Ok(result) => result,
                Err(_) => Err(sqlx::Error::WorkerCrashed),
            },
            Err(rows) => {
                insert(&self.writers, &rows).await?;
                self.hints.committed();
                Ok(())
            }
        }
    }

    /// Queues `rows`, waiting for room; answers where their result will come, or gives the
    /// rows back when the committer task is gone.
    async fn enqueue(
        &self,
        rows: Vec<EventRow>,
    ) -> Result<oneshot::Receiver<Result<(), sqlx::Error>>, Vec<EventRow>> {
        let (reply, answer) = oneshot::channel();
        match self.appends.send(Append { rows, reply }).await {
            Ok(()) => Ok(answer),
            Err(mpsc::error::SendError(append)) => Err(append.rows),
        }
    }
}

/// The committer's own connections: `pool`'s, with the append statement timeout.
fn writers_of(pool: &PgPool) -> PgPool {
    let options = (*pool.connect_options())
        .clone()
        .options([("statement_timeout", APPEND_STATEMENT_TIMEOUT_MS)]);
    crate::pool::checked_when_idle::<Postgres>()
        .max_connections(u32::try_from(FLUSHES_IN_FLIGHT_MAX).unwrap_or(u32::MAX))
        .acquire_timeout(Duration::from_millis(WRITER_ACQUIRE_TIMEOUT_MS))
        .connect_lazy_with(options)
}

async fn run(pool: PgPool, mut pending: mpsc::Receiver<Append>, hints: CommitHints) {
    let flushes = Arc::new(Semaphore::new(FLUSHES_IN_FLIGHT_MAX));
    while let Some(first) = pending.recv().await {
        // Waiting for a free flush lets the next group gather meanwhile.
        let Ok(permit) = Arc::clone(&flushes).acquire_owned().await else {
            return;
        };
        let mut rows = first.rows.len();
        let mut group = vec![first];
        while rows < GROUP_ROWS_MAX {
            match pending.try_recv() {
                Ok(next) => {
                    rows += next.rows.len();
                    group.push(next);
                }
                Err(_) => break,
            }
        }
        let (pool, hints) = (pool.clone(), hints.clone());
        tokio::spawn(async move {
            if flush(&pool, group).await {
                hints.committed();
            }
            drop(permit);
        });
    }
}

/// Writes `group`, answering each append; whether any of them was written.
async fn flush(pool: &PgPool, group: Vec<Append>) -> bool {
    if group.len() > 1 {
        let rows: Vec<&EventRow> = group.iter().flat_map(|append| &append.rows).collect();
        if insert_refs(pool, &rows).await.is_ok() {
            for append in group {
                // a command that stopped waiting still has its events written
                let _ = append.reply.send(Ok(()));
            }
            return true;
        }
    }
    let mut written = false;
    for append in group {
        let result = insert(pool, &append.rows).await;
        written |= result.is_ok();
        let _ = append.reply.send(result);
    }
    written
}

async fn insert(pool: &PgPool, rows: &[EventRow]) -> Result<(), sqlx::Error> {
    let rows: Vec<&EventRow> = rows.iter().collect();
    insert_refs(pool, &rows).await
}

async fn insert_refs(pool: &PgPool, rows: &[&EventRow]) -> Result<(), sqlx::Error> {
    fn column<T: Clone>(rows: &[&EventRow], field: impl Fn(&EventRow) -> &T) -> Vec<T> {
        rows.iter().map(|row| field(row).clone()).collect()
    }
    sqlx::query(include_str!("insert_events.sql"))
        .bind(column(rows, |r| &r.aggregate_type))
        .bind(column(rows, |r| &r.aggregate_id))
        .bind(column(rows, |r| &r.sequence))
        .bind(column(rows, |r| &r.event_type))
        .bind(column(rows, |r| &r.event_version))
        .bind(column(rows, |r| &r.payload))
        .bind(column(rows, |r| &r.metadata))
        .bind(column(rows, |r| &r.gene))
        .execute(pool)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::time::Duration;

    use sqlx::postgres::PgPoolOptions;

    use super::*;

    fn row(n: usize) -> Vec<EventRow> {
        vec![EventRow {
            aggregate_type: "Counter".to_owned(),
            aggregate_id: format!("c-{n}"),
            sequence: 1,
            event_type: "Added".to_owned(),
            event_version: "1.0".to_owned(),
            payload: "{}".to_owned(),
            metadata: "{}".to_owned(),
            gene: 0,
        }]
    }

    /// With the database stalled (its one connection held), appends are taken until the
    /// flushes in flight and the queue are full; the next one waits for room instead of being
    /// kept in memory, and every one taken is written once the database answers again.
    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn a_stalled_database_makes_appends_wait_for_room_in_the_queue(pool: PgPool) {
        const QUEUED: usize = 8;
        let one = PgPoolOptions::new()
            .max_connections(1)
            .connect_with((*pool.connect_options()).clone())
            .await
            .unwrap();
        let held = one.acquire().await.unwrap();
        let committer =
            GroupCommitter::start_with_queue(one.clone(), QUEUED, CommitHints::start(&one));
        let most = FLUSHES_IN_FLIGHT_MAX * GROUP_ROWS_MAX + 1 + QUEUED;
        let mut answers = Vec::new();
        let mut waited = false;
        for n in 0..=most {
            match tokio::time::timeout(Duration::from_millis(200), committer.enqueue(row(n))).await
            {
                Ok(answer) => answers.push(answer.unwrap()),
                Err(_) => {
                    waited = true;
                    break;
                }
            }
        }
        assert!(
            waited,
            "{} appends were queued without waiting",
            answers.len()
        );
        drop(held);
        for answer in &mut answers {
            answer.await.unwrap().unwrap();
        }
        let written: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(written, i64::try_from(answers.len()).unwrap());
    }
}
