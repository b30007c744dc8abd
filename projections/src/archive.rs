//! The cold archive of the order views (`orders archive`, and a server's off-peak archiver).
//!
//! Orders in a settled status ([`ARCHIVED_STATUSES`]) whose last event is older than a
//! threshold move, in batches, from the hot detail view (which the buyer and seller lists index) to
//! `order_archive`. A batch is one transaction: it locks the progress row, picks up to its size
//! of the oldest candidates (on PostgreSQL skipping any row a projection batch holds), copies
//! them to the archive, removes them from the detail view and writes the high-water mark
//! and counts. A crash anywhere rolls the whole batch back, and the next run picks the same
//! orders again: nothing is lost or moved twice.
//!
//! The mark records how far the archive has got; it is not a filter. The log's order is commit
//! order, not time order, so an order whose last event committed late can still be a candidate
//! below the mark; the candidates are simply "settled, old and hot", which the partial index
//! `order_detail_archivable` finds directly.
//!
//! Queries fall back to the archive ([`ReadModels::order`]); a late event for an archived order
//! brings it back to the hot views in the projection's own transaction; a replay keeps every
//! order in one place (`sql/swap_archive.sql`). Events never move, so an archived order's id
//! stays used in the log and is never issued again. See `docs/adr/0011-cold-archive.md`.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Timelike, Utc};
use domain::OrderStatus;
use event_store::{Db, EventStore};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::backend::{self, archive_progress_of, live, to_i64};
use crate::error::ProjectionError;
use crate::read_models::ReadModels;

/// The statuses in which an order is archived once its last change is old enough: nothing is
/// expected to happen to it any more. `Completed` is not final in the domain (a refund may
/// still come), and neither is `Cancelled` (a late payment is recorded after close): when such
/// an event does arrive, the projection brings the order back from the archive. The SQL that
/// picks candidates (`sql/archive_pick.sql`) and the partial index in migration
/// `0011_order_archive.sql` name the same statuses.
pub const ARCHIVED_STATUSES: [OrderStatus; 3] = [
    OrderStatus::Completed,
    OrderStatus::Cancelled,
    OrderStatus::Refunded,
];
/// Days since an order's last change after which it is archived, unless configured.
pub const ARCHIVE_AFTER_DAYS_DEFAULT: u32 = 90;
/// Orders moved per batch (one transaction), unless configured.
pub const ARCHIVE_BATCH_SIZE_DEFAULT: u32 = 500;
/// Most orders one batch moves: a batch is one writing transaction, and on PostgreSQL a
/// writing transaction holds back every reader of the log while it runs (ADR 1).
pub const ARCHIVE_BATCH_SIZE_MAX: u32 = 10_000;
/// The key of the archive's row in `archive_progress`.
pub(crate) const ARCHIVE_NAME: &str = "orders";

/// How far the archive has got, as stored beside the rows it moved.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ArchiveProgress {
    /// High-water mark: the last change (microseconds since the epoch) of the newest order any
    /// batch moved; 0 before the first.
    pub changed_at_us: i64,
    /// High-water mark: that order's id (orders that changed in the same microsecond are taken
    /// in id order); empty before the first batch.
    pub order_id: String,
    /// Batches that moved orders, ever.
    pub batches: u64,
    /// Orders moved, ever (an order brought back by a late event and archived again counts
    /// twice).
    pub orders: u64,
}

impl ArchiveProgress {
    /// The mark's time, once a batch has moved an order.
    pub fn mark(&self) -> Option<DateTime<Utc>> {
        (!self.order_id.is_empty())
            .then(|| DateTime::from_timestamp_micros(self.changed_at_us))
            .flatten()
    }
}

/// What one batch did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveBatch {
    /// Orders it moved to the archive.
    pub moved: u64,
    /// The progress it wrote (unchanged when it moved nothing).
    pub progress: ArchiveProgress,
}

/// What a run of batches did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArchiveRun {
    /// Batches that moved orders.
    pub batches: u64,
    /// Orders moved.
    pub moved: u64,
    /// The progress after the last batch.
    pub progress: ArchiveProgress,
}

/// The UTC time of day in which a server's archiver runs: `HH:MM-HH:MM` (end excluded; it may
/// wrap past midnight, as in `22:00-02:00`), `00:00-24:00` for any time, or `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ArchiveWindow {
    /// (start, end) in minutes since midnight UTC; `None` when off.
    minutes: Option<(u16, u16)>,
}

/// An archive window that is not `HH:MM-HH:MM`, `00:00-24:00` or `off`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "archive window {0:?} is not HH:MM-HH:MM in UTC (e.g. 02:00-05:00; 00:00-24:00 for any \
     time) or off"
)]
pub struct ArchiveWindowError(String);

const MINUTES_PER_DAY: u16 = 24 * 60;

impl ArchiveWindow {
    /// Never: the server does not archive (`orders archive` still does).
    pub const OFF: Self = Self { minutes: None };
    /// Any time of day.
    pub const ALWAYS: Self = Self {
        minutes: Some((0, MINUTES_PER_DAY)),
    };

    /// Whether `at` falls inside the window.
    pub fn contains(&self, at: DateTime<Utc>) -> bool {
        let Some((start, end)) = self.minutes else {
            return false;
        };
        // at most 1439: the hour is below 24 and the minute below 60
        let now = u16::try_from(at.hour() * 60 + at.minute()).unwrap_or(0);
        if start < end {
            start <= now && now < end
        } else {
            now >= start || now < end
        }
    }

    fn parse_time(text: &str) -> Option<u16> {
        let (h, m) = text.split_once(':')?;
        let all_digits = |s: &str| s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit());
        if !all_digits(h) || !all_digits(m) {
            return None;
        }
        let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
        (m < 60 && (h < 24 || (h == 24 && m == 0))).then_some(h * 60 + m)
    }
}

impl Default for ArchiveWindow {
    /// 02:00-05:00 UTC.
    fn default() -> Self {
        Self {
            minutes: Some((2 * 60, 5 * 60)),
        }
    }
}

impl FromStr for ArchiveWindow {
    type Err = ArchiveWindowError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("off") {
            return Ok(Self::OFF);
        }
        let invalid = || ArchiveWindowError(text.to_owned());
        let (start, end) = text.split_once('-').ok_or_else(invalid)?;
        let start = Self::parse_time(start.trim()).ok_or_else(invalid)?;
        let end = Self::parse_time(end.trim()).ok_or_else(invalid)?;
        // an empty window is a mistake; 24:00 only ends one
        if start == end || start == MINUTES_PER_DAY {
            return Err(invalid());
        }
        Ok(Self {
            minutes: Some((start, end)),
        })
    }
}

impl TryFrom<String> for ArchiveWindow {
    type Error = ArchiveWindowError;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

impl From<ArchiveWindow> for String {
    fn from(window: ArchiveWindow) -> Self {
        window.to_string()
    }
}

impl fmt::Display for ArchiveWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.minutes {
            None => f.write_str("off"),
            Some((start, end)) => write!(
                f,
                "{:02}:{:02}-{:02}:{:02}",
                start / 60,
                start % 60,
                end / 60,
                end % 60
            ),
        }
    }
}

/// When a server's archiver runs: inside `window`, looking at the clock every `interval`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArchiveSchedule {
    /// The off-peak window.
    pub window: ArchiveWindow,
    /// How long the archiver sleeps between looks (and after a failure).
    pub interval: Duration,
}

type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// Moves settled orders older than a threshold to the archive, a batch at a time.
#[derive(Clone)]
pub struct Archiver {
    models: ReadModels,
    /// With shards, every shard's database, whose seller views drop the archived orders.
    seller_views: Option<Db>,
    older_than: TimeDelta,
    batch_size: u32,
    clock: Clock,
}

impl fmt::Debug for Archiver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Archiver")
            .field("older_than", &self.older_than)
            .field("batch_size", &self.batch_size)
            .finish_non_exhaustive()
    }
}

impl Archiver {
    /// An archiver of `store`'s order views: orders whose last change is more than
    /// `older_than` ago move, `batch_size` (1 to [`ARCHIVE_BATCH_SIZE_MAX`]) per batch.
    pub fn new(store: &EventStore, older_than: TimeDelta, batch_size: u32) -> Self {
        Self {
            models: ReadModels::new(store),
            seller_views: None,
            older_than,
            batch_size: batch_size.clamp(1, ARCHIVE_BATCH_SIZE_MAX),
            clock: Arc::new(Utc::now),
        }
    }

    /// The same archiver, deleting the orders it archives from the seller views of `shards`
    /// (a handle routing by the shard map, ADR 45): a seller's archive shelf lists them.
    #[must_use]
    pub fn with_seller_views(mut self, shards: Db) -> Self {
        self.seller_views = Some(shards);
        self
    }

    /// The same archiver reading the time from `clock` (tests move it forward).
    #[must_use]
    pub fn with_clock(mut self, clock: impl Fn() -> DateTime<Utc> + Send + Sync + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Orders whose last change is before this are archived now.
    pub fn cutoff(&self) -> DateTime<Utc> {
        (self.clock)() - self.older_than
    }

    /// How many orders a run would move now: the settled orders changed before
    /// [`Archiver::cutoff`] (a run's progress total).
    pub async fn archivable(&self) -> Result<u64, ProjectionError> {
        backend::count_archivable(&self.models.db, self.cutoff().timestamp_micros()).await
    }

    /// One batch: moves up to the batch size of the oldest settled orders changed before
    /// [`Archiver::cutoff`], with the high-water mark, in one transaction.
    pub async fn batch(&self) -> Result<ArchiveBatch, ProjectionError> {
        self.batch_before(self.cutoff()).await
    }

    async fn batch_before(&self, cutoff: DateTime<Utc>) -> Result<ArchiveBatch, ProjectionError> {
        let cutoff_us = cutoff.timestamp_micros();
        let size = i64::from(self.batch_size);
        let now_us = (self.clock)().timestamp_micros();
        let db = &self.models.db;
        let forgets = self.seller_views.is_some();
        let (moved, progress) = archive_batch(db, cutoff_us, size, now_us, forgets).await?;
        if let Some(shards) = &self.seller_views {
            // after the archive's commit, which recorded the orders to forget with this
            // batch's: a batch stopped in between left its own to this one (ADR 45)
            crate::sellers::forget_archived(db, shards).await?;
        }
        Ok(ArchiveBatch { moved, progress })
    }

    /// Runs batches, with the cutoff of the start, until none is left or `max_batches` have
    /// moved orders; calls `progress` after each batch that moved any.
    pub async fn run(
        &self,
        max_batches: Option<u64>,
        progress: impl FnMut(&ArchiveBatch),
    ) -> Result<ArchiveRun, ProjectionError> {
        self.run_while(max_batches, || true, progress).await
    }

    async fn run_while(
        &self,
        max_batches: Option<u64>,
        keep_going: impl Fn() -> bool,
        mut progress: impl FnMut(&ArchiveBatch),
    ) -> Result<ArchiveRun, ProjectionError> {
        let cutoff = self.cutoff();
        let mut run = ArchiveRun {
            progress: self.progress().await?,
            ..ArchiveRun::default()
        };
        while max_batches.is_none_or(|max| run.batches < max) && keep_going() {
            let batch = self.batch_before(cutoff).await?;
            run.progress = batch.progress.clone();
            if batch.moved == 0 {
                break;
            }
            run.batches += 1;
            run.moved += batch.moved;
            progress(&batch);
            if batch.moved < u64::from(self.batch_size) {
                break; // that was the rest (rows a runner held are picked up next time)
            }
        }
        Ok(run)
    }

    /// The stored progress.
    pub async fn progress(&self) -> Result<ArchiveProgress, ProjectionError> {
        backend::archive_progress(&self.models.db).await
    }

    /// A server's archiver: inside the window, runs batches until none is left (or the window
    /// closes), then sleeps for the interval; until `shutdown`. A batch in flight at shutdown
    /// is rolled back, which loses nothing. Failures are logged and retried after the interval.
    pub async fn run_scheduled(self, schedule: ArchiveSchedule, shutdown: CancellationToken) {
        if schedule.window == ArchiveWindow::OFF {
            tracing::info!("archiver off (archive_window = off)");
            return;
        }
        tracing::info!(
            window = %schedule.window,
            older_than_days = self.older_than.num_days(),
            batch_size = self.batch_size,
            "archiver started"
        );
        loop {
            if schedule.window.contains((self.clock)()) {
                let in_window = || schedule.window.contains((self.clock)());
                let report = |batch: &ArchiveBatch| {
                    tracing::info!(
                        moved = batch.moved,
                        mark_order_id = %batch.progress.order_id,
                        "archive batch"
                    );
                };
                let outcome = tokio::select! {
                    () = shutdown.cancelled() => return,
                    outcome = self.run_while(None, in_window, report) => outcome,
                };
                match outcome {
                    Ok(run) if run.moved > 0 => {
                        tracing::info!(moved = run.moved, batches = run.batches, "archived");
                    }
                    Ok(_) => {}
                    Err(err) => tracing::error!(
                        error = %crate::ErrorChain(&err),
                        "archive batch failed; nothing of it was moved, retrying later"
                    ),
                }
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(schedule.interval) => {}
            }
        }
    }
}

/// One archive batch: up to `batch_size` settled orders whose last change is before
/// `cutoff_us` move from the hot views to the archive, and the high-water mark moves with them,
/// in one transaction; with `forgets`, the transaction also records the orders moved as still
/// to be deleted from the seller views. Returns how many orders moved.
async fn archive_batch(
    db: &Db,
    cutoff_us: i64,
    batch_size: i64,
    now_us: i64,
    forgets: bool,
) -> Result<(u64, ArchiveProgress), ProjectionError> {
    let sql = live(db);
    let mut tx = db.begin().await?;
    let row = tx
        .query(&sql.archive_claim)
        .bind(ARCHIVE_NAME)
        .bind(now_us)
        .fetch_one(&mut tx)
        .await?;
    let mut progress = archive_progress_of(&row)?;
    let picked: Vec<(String, i64)> = tx
        .query(&sql.archive_pick)
        .bind(cutoff_us)
        .bind(batch_size)
        .fetch_all_with(&mut tx, |row| Ok((row.try_get(0)?, row.try_get(1)?)))
        .await?;
    let Some((last_id, last_changed)) = picked.last().cloned() else {
        tx.commit().await?;
        return Ok((0, progress));
    };
    let ids = serde_json::to_string(&picked.iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>())?;
    tx.query(&sql.archive_copy)
        .bind(ids.as_str())
        .bind(now_us)
        .execute(&mut tx)
        .await?;
    let moved = tx
        .query(&sql.archive_drop_detail)
        .bind(ids.as_str())
        .execute(&mut tx)
        .await?;
    if moved != picked.len() as u64 {
        // the picked rows are locked (or the database is): nothing else removes them
        return Err(ProjectionError::Corrupt(format!(
            "picked {} orders to archive but removed {moved}",
            picked.len()
        )));
    }
    if forgets {
        tx.query(crate::sellers::NOTE_FORGETS)
            .bind(ids.as_str())
            .execute(&mut tx)
            .await?;
    }
    // the mark only moves forward: an order whose last event committed late can be picked
    // after newer ones
    if (last_changed, last_id.as_str()) > (progress.changed_at_us, progress.order_id.as_str()) {
        progress.changed_at_us = last_changed;
        progress.order_id = last_id;
    }
    progress.batches += 1;
    progress.orders += moved;
    tx.query(&sql.archive_mark)
        .bind(ARCHIVE_NAME)
        .bind(progress.changed_at_us)
        .bind(progress.order_id.as_str())
        .bind(to_i64(moved, "moved")?)
        .execute(&mut tx)
        .await?;
    tx.commit().await?;
    Ok((moved, progress))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::projection::{Dialect, Sql};

    fn at(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 31, h, m, 0).unwrap()
    }

    #[test]
    fn windows_parse_print_and_contain() {
        let night: ArchiveWindow = "02:00-05:00".parse().unwrap();
        assert_eq!(night, ArchiveWindow::default());
        assert_eq!(night.to_string(), "02:00-05:00");
        assert!(!night.contains(at(1, 59)));
        assert!(night.contains(at(2, 0)));
        assert!(night.contains(at(4, 59)));
        assert!(!night.contains(at(5, 0)));

        let wrapping: ArchiveWindow = "22:30-01:00".parse().unwrap();
        assert!(wrapping.contains(at(23, 0)) && wrapping.contains(at(0, 30)));
        assert!(!wrapping.contains(at(12, 0)) && !wrapping.contains(at(1, 0)));

        let always: ArchiveWindow = "00:00-24:00".parse().unwrap();
        assert_eq!(always, ArchiveWindow::ALWAYS);
        assert!(always.contains(at(0, 0)) && always.contains(at(23, 59)));

        let off: ArchiveWindow = "off".parse().unwrap();
        assert_eq!(off, ArchiveWindow::OFF);
        assert!(!off.contains(at(3, 0)));
        assert_eq!(off.to_string(), "off");
    }

    #[test]
    fn malformed_windows_are_refused() {
        for bad in [
            "",
            "2-5",
            "02:00",
            "02:00-02:00",
            "24:00-02:00",
            "02:60-03:00",
            "25:00-26:00",
            "2:00-5:00",
            "02:00-24:01",
        ] {
            assert!(bad.parse::<ArchiveWindow>().is_err(), "{bad}");
        }
    }

    #[test]
    fn the_candidate_sql_names_exactly_the_archived_statuses() {
        let sql = Sql::live(Dialect::Postgres);
        let (pick, count) = (&sql.archive_pick, &sql.archive_count);
        for status in crate::document::ORDER_STATUSES {
            assert_eq!(
                pick.contains(&format!("'{}'", status.as_str())),
                ARCHIVED_STATUSES.contains(&status),
                "{status}"
            );
        }
        let migration = include_str!("../migrations/postgres/0011_order_archive.sql");
        let lite = include_str!("../migrations/sqlite/0011_order_archive.sql");
        let list = "WHERE status IN ('Completed', 'Cancelled', 'Refunded')";
        for sql in [pick, count, migration, lite] {
            assert!(sql.contains(list), "{sql}");
        }
    }

    #[test]
    fn the_mark_is_a_time_once_set() {
        assert_eq!(ArchiveProgress::default().mark(), None);
        let progress = ArchiveProgress {
            changed_at_us: at(3, 0).timestamp_micros(),
            order_id: "7".into(),
            ..ArchiveProgress::default()
        };
        assert_eq!(progress.mark(), Some(at(3, 0)));
    }
}
