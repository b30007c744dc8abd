//! A rebuild's read: every stream of one aggregate type, stream by stream, a page at a time,
//! of the events in the log at or before a checkpoint.
//!
//! On PostgreSQL the read is one cursor over the primary key, declared in a transaction of its
//! own and fetched a page at a time: the index is walked once, and each entry is checked
//! against the aggregate type alone. A read that starts each page after the previous page's
//! last event (a row comparison on the key) checks that comparison against every entry it
//! passes, and costs the database about three times as much. SQLite reads page after page.

use sqlx::{Postgres, SqlitePool, Transaction};

use crate::store::Backend;
use crate::{Checkpoint, EventStore, StoreError, StreamEvent};

/// The pages of a rebuild's read ([`EventStore::read_streams_pages`]).
pub struct StreamPages {
    store: EventStore,
    page_events: usize,
    read: Read,
}

enum Read {
    /// The transaction that holds the cursor; `None` once the last page is read.
    Postgres(Option<Transaction<'static, Postgres>>),
    /// The previous page's last event; `None` once the last page is read.
    Sqlite {
        pool: SqlitePool,
        aggregate_type: String,
        upto: Checkpoint,
        after: Option<(String, i64)>,
    },
}

impl EventStore {
    /// Every stream of `aggregate_type`, stream by stream (each stream's events in sequence
    /// order), of the events in the log at or before `upto`, in pages of at most
    /// `page_events`: a rebuild's read, which folds each stream on its own. On PostgreSQL the
    /// read holds a pooled connection until its last page is read or it is dropped.
    pub async fn read_streams_pages(
        &self,
        aggregate_type: &str,
        upto: Checkpoint,
        page_events: usize,
    ) -> Result<StreamPages, StoreError> {
        let read = match &*self.backend {
            Backend::Postgres(b) => {
                Read::Postgres(Some(b.declare_streams_cursor(aggregate_type, upto).await?))
            }
            Backend::Sqlite(b) => Read::Sqlite {
                pool: b.pool.clone(),
                aggregate_type: aggregate_type.to_owned(),
                upto,
                after: Some((String::new(), 0)),
            },
        };
        Ok(StreamPages {
            store: self.clone(),
            page_events: page_events.max(1),
            read,
        })
    }
}

impl StreamPages {
    /// The next page (upcast); empty once every event has been read.
    pub async fn next_page(&mut self) -> Result<Vec<StreamEvent>, StoreError> {
        let page = match &mut self.read {
            Read::Postgres(cursor) => {
                let Some(tx) = cursor.as_mut() else {
                    return Ok(Vec::new());
                };
                let page = crate::postgres::fetch_streams_cursor(tx, self.page_events).await?;
                if page.len() < self.page_events {
                    if let Some(tx) = cursor.take() {
                        tx.rollback().await?;
                    }
                }
                page
            }
            Read::Sqlite {
                pool,
                aggregate_type,
                upto,
                after,
            } => {
                let Some((id, sequence)) = after.as_ref() else {
                    return Ok(Vec::new());
                };
                let limit = i64::try_from(self.page_events).unwrap_or(i64::MAX);
                let page = crate::sqlite::read_streams_page(
                    pool,
                    aggregate_type,
                    (id, *sequence),
                    *upto,
                    limit,
                )
                .await?;
                *after = match page.last() {
                    Some(last) if page.len() == self.page_events => Some((
                        last.aggregate_id.clone(),
                        i64::try_from(last.sequence).map_err(|_| {
                            StoreError::Corrupt(format!("sequence {}", last.sequence))
                        })?,
                    )),
                    _ => None,
                };
                page
            }
        };
        self.store.upcast_read(page)
    }
}
