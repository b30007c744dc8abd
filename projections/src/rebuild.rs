//! A replay's fold: the streams of one aggregate type, read stream by stream
//! ([`EventStore::read_streams_pages`](event_store::EventStore::read_streams_pages)), each folded
//! on its own into the one row it leaves in its view. A stream is finished when the next one
//! starts, so only one stream's state is held at a time, however long the log.

use cqrs_es::Aggregate;
use domain::{Order, OrderEvent, SkuEvent};
use event_store::StreamEvent;

use crate::backend::StockRow;
use crate::document::micros;
use crate::error::ProjectionError;
use crate::projection::StockChange;
use crate::rows::OrderRow;

/// A spawned task's outcome: its panic goes on in the caller; a task cancelled (the runtime
/// shutting down) is a crashed worker.
pub(crate) fn joined<T>(outcome: Result<T, tokio::task::JoinError>) -> Result<T, ProjectionError> {
    match outcome {
        Ok(value) => Ok(value),
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => Err(sqlx::Error::WorkerCrashed.into()),
    }
}

/// A replay's rows of one write.
#[derive(Debug)]
pub(crate) enum Rows {
    /// Order detail rows (the lists are the detail view's indexes, built at the end).
    Orders(Vec<OrderRow>),
    /// Stock rows.
    Stock(Vec<StockRow>),
}

/// What one stream folds into.
pub(crate) trait StreamState: Default {
    /// The view's row for the stream.
    type Row;

    /// Applies the stream's next event.
    fn apply(&mut self, event: StreamEvent) -> Result<(), ProjectionError>;

    /// The row of the whole stream (`None`: the stream leaves no row), at `version`, last
    /// changed at `changed_at_us`.
    fn row(
        self,
        id: String,
        version: u64,
        changed_at_us: i64,
    ) -> Result<Option<Self::Row>, ProjectionError>;
}

/// Streams folded one after the other, and the rows of those finished.
pub(crate) struct Streams<S: StreamState> {
    /// The stream being folded: its id, version, last change and state.
    current: Option<(String, u64, i64, S)>,
    finished: Vec<S::Row>,
}

impl<S: StreamState> Default for Streams<S> {
    fn default() -> Self {
        Self {
            current: None,
            finished: Vec::new(),
        }
    }
}

impl<S: StreamState> Streams<S> {
    /// Applies the next event of the read: of the current stream, or the first of the next.
    pub(crate) fn apply(&mut self, event: StreamEvent) -> Result<(), ProjectionError> {
        if self
            .current
            .as_ref()
            .is_some_and(|(id, ..)| *id != event.aggregate_id)
        {
            self.finish_current()?;
        }
        let (_, version, changed_at_us, state) = self
            .current
            .get_or_insert_with(|| (event.aggregate_id.clone(), 0, 0, S::default()));
        if event.sequence != *version + 1 {
            return Err(ProjectionError::Corrupt(format!(
                "stream {} is at version {version} but its next event is {}",
                event.aggregate_id, event.sequence
            )));
        }
        *version = event.sequence;
        *changed_at_us = micros(Some(event.recorded_at));
        state.apply(event)
    }

    /// The rows of the streams finished so far, taken.
    pub(crate) fn take_finished(&mut self) -> Vec<S::Row> {
        std::mem::take(&mut self.finished)
    }

    /// Ends the read: the rows of every stream not taken yet, the last one's too.
    pub(crate) fn finish(mut self) -> Result<Vec<S::Row>, ProjectionError> {
        self.finish_current()?;
        Ok(self.finished)
    }

    fn finish_current(&mut self) -> Result<(), ProjectionError> {
        if let Some((id, version, changed_at_us, state)) = self.current.take() {
            self.finished.extend(state.row(id, version, changed_at_us)?);
        }
        Ok(())
    }
}

/// An order stream: the aggregate, as the live projection folds it.
#[derive(Default)]
pub(crate) struct OrderStream(Order);

impl StreamState for OrderStream {
    type Row = OrderRow;

    fn apply(&mut self, event: StreamEvent) -> Result<(), ProjectionError> {
        self.0.apply(event.decode::<OrderEvent>()?);
        Ok(())
    }

    fn row(
        self,
        _id: String,
        version: u64,
        changed_at_us: i64,
    ) -> Result<Option<OrderRow>, ProjectionError> {
        // a stream whose order never came to exist (a rejected placement) has no row
        OrderRow::of(&self.0, version, changed_at_us)
    }
}

/// A SKU stream: its stock, once created.
#[derive(Default)]
pub(crate) struct StockStream(Option<(String, i64, i64, i64)>);

impl StreamState for StockStream {
    type Row = StockRow;

    fn apply(&mut self, event: StreamEvent) -> Result<(), ProjectionError> {
        let change = StockChange::of(&event.decode::<SkuEvent>()?);
        match (change, &mut self.0) {
            (StockChange::Created { seller, available }, None) => {
                self.0 = Some((seller, available, 0, 0));
            }
            (
                StockChange::Moved {
                    available,
                    reserved,
                    sold,
                },
                Some((_, a, r, s)),
            ) => {
                *a += available;
                *r += reserved;
                *s += sold;
            }
            (_, _) => {
                return Err(ProjectionError::Corrupt(format!(
                    "SKU {} event {} does not follow from the ones before it",
                    event.aggregate_id, event.sequence
                )));
            }
        }
        Ok(())
    }

    fn row(
        self,
        sku: String,
        version: u64,
        _changed_at_us: i64,
    ) -> Result<Option<StockRow>, ProjectionError> {
        Ok(self
            .0
            .map(|(seller_id, available, reserved, sold)| StockRow {
                sku,
                seller_id,
                available,
                reserved,
                sold,
                version,
            }))
    }
}
