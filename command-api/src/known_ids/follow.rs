//! Filling the filter of known ids from the log at start, and keeping it up to date from the
//! log's new events, whichever node wrote them.

use std::sync::Arc;
use std::time::Duration;

use event_store::{Checkpoint, ErrorChain, EventStore, StoreError};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::{KnownIds, TRACKED};

/// Stream ids read per statement while filling.
const FILL_PAGE_SIZE: i64 = 10_000;
/// Events the follower reads per batch.
const FOLLOW_BATCH_SIZE: usize = 1_000;
/// How long the follower waits after a failed read before reading again.
const FOLLOW_RETRY_MS: u64 = 1_000;

const STREAM_IDS: &str = include_str!("sql/stream_ids.sql");

/// Puts the id of every stream of the [`TRACKED`] types into `known`; answers the head of
/// the log as it was before the read, from which [`follow`] goes on: every event up to it
/// had committed, so its stream was read, and every later one the follower reads.
pub async fn fill(store: &EventStore, known: &KnownIds) -> Result<Checkpoint, StoreError> {
    let head = store.head().await?;
    let db = store.db();
    let mut ids = 0_u64;
    for kind in TRACKED {
        let mut after = String::new();
        loop {
            let rows = db
                .query(STREAM_IDS)
                .bind(kind)
                .bind(after.as_str())
                .bind(FILL_PAGE_SIZE)
                .fetch_all(&db)
                .await?;
            let page = rows
                .iter()
                .map(|row| row.try_get::<String, _>("aggregate_id"))
                .collect::<Result<Vec<_>, _>>()?;
            for id in &page {
                known.insert(kind, id);
            }
            ids += page.len() as u64;
            let full = i64::try_from(page.len()).is_ok_and(|len| len >= FILL_PAGE_SIZE);
            match page.into_iter().last() {
                Some(last) if full => after = last,
                _ => break,
            }
        }
    }
    tracing::info!(
        ids,
        stages = known.stage_count(),
        "filter of known ids filled from the log"
    );
    Ok(head)
}

/// Follows the log from `from` until `shutdown`, putting the stream of every event into
/// `known`; a failed read is logged and read again.
pub fn follow(
    store: EventStore,
    known: Arc<KnownIds>,
    from: Checkpoint,
    shutdown: CancellationToken,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut subscription = match store.subscribe(from, FOLLOW_BATCH_SIZE).await {
            Ok(subscription) => subscription,
            Err(err) => {
                tracing::error!(error = %ErrorChain(&err), "cannot follow the log for known ids");
                return;
            }
        };
        loop {
            let batch = tokio::select! {
                () = shutdown.cancelled() => return,
                batch = subscription.next_batch() => batch,
            };
            match batch {
                Ok(events) => {
                    for event in &events {
                        known.insert(&event.aggregate_type, &event.aggregate_id);
                    }
                }
                Err(err) => {
                    tracing::warn!(
                        error = %ErrorChain(&err),
                        "the filter of known ids could not read the log; reading again"
                    );
                    tokio::select! {
                        () = shutdown.cancelled() => return,
                        () = tokio::time::sleep(Duration::from_millis(FOLLOW_RETRY_MS)) => {}
                    }
                }
            }
        }
    })
}
