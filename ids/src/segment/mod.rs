//! The Leaf-segment allocator: dense sequences for internal numbers (payment trade numbers,
//! refund numbers) where guessability does not matter.
//!
//! Each business tag is a row in `id_segments`. An allocator takes a range of `step` ids with
//! one upsert (`max_id = max_id + step .. RETURNING`), hands them out from memory, and loads
//! the next range in the background once [`SEGMENT_PREFETCH_AT_PERCENT`] of the current one
//! is used (the double buffer), so issuing waits for the database only when both ranges are
//! used up. Ranges of concurrent allocators never overlap; ids are unique and increase within
//! an allocator, with gaps where a process stopped before using its range.

mod step;

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use event_store::{Db, EventStore};
use tokio::sync::Notify;
use tracing::{instrument, warn};

pub use step::{SEGMENT_LONG_MS, SEGMENT_SHORT_MS};

use crate::IdError;
use crate::clock::{Clock, SystemClock};

/// The step of a business tag's first segment, and the least it halves down to.
pub const SEGMENT_STEP_INITIAL: u32 = 1_000;
/// The most the step doubles up to.
pub const SEGMENT_STEP_MAX: u32 = 1_000_000;
/// The next segment is loaded once this share of the current one is used.
pub const SEGMENT_PREFETCH_AT_PERCENT: u32 = 10;
/// After a background load failed, the next one waits this long (a caller that finds both
/// segments used up loads at once and sees the error).
pub const SEGMENT_PREFETCH_RETRY_MS: u64 = 1_000;

/// How a segment allocator sizes its segments and reads time.
#[derive(Clone, Debug)]
pub struct SegmentOptions {
    /// Its monotonic clock measures how long a segment lasted.
    pub clock: Arc<dyn Clock>,
    /// The first step, and the least ([`SEGMENT_STEP_INITIAL`]).
    pub step_initial: u32,
    /// The largest step ([`SEGMENT_STEP_MAX`]).
    pub step_max: u32,
}

impl Default for SegmentOptions {
    fn default() -> Self {
        Self {
            clock: Arc::new(SystemClock::new()),
            step_initial: SEGMENT_STEP_INITIAL,
            step_max: SEGMENT_STEP_MAX,
        }
    }
}

/// What an allocator holds, for metrics and tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentStatus {
    /// The step of the latest segment loaded (the initial step before the first).
    pub step: u32,
    /// Ids left in the current segment.
    pub remaining: i64,
    /// Whether the next segment is loaded and waiting.
    pub next_ready: bool,
    /// Whether a segment is being loaded.
    pub loading: bool,
}

/// Hands out the ids of one business tag. Cheap to clone; clones share the buffers.
#[derive(Clone, Debug)]
pub struct SegmentAllocator {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    db: Db,
    biz_tag: String,
    options: SegmentOptions,
    buffers: Mutex<Buffers>,
    /// Signalled whenever a load ends, well or not.
    loaded: Notify,
}

#[derive(Debug)]
struct Segment {
    next_id: i64,
    max_id: i64,
    step: u32,
}

impl Segment {
    fn remaining(&self) -> i64 {
        self.max_id - self.next_id + 1
    }
}

#[derive(Debug)]
struct Buffers {
    current: Option<Segment>,
    next: Option<Segment>,
    loading: bool,
    /// The step of the latest segment loaded.
    step: u32,
    /// When the latest segment was loaded, on the monotonic clock.
    loaded_at_mono_ms: Option<u64>,
    /// No background load before this, on the monotonic clock (set when one failed).
    prefetch_after_mono_ms: u64,
}

/// A claimed load in flight. A caller that loads inline may give up (its future is dropped)
/// mid-load: the claim is then given back, or every later caller would wait for it forever.
struct Claim<'a> {
    inner: &'a Inner,
    held: bool,
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        if self.held {
            self.inner.buffers().loading = false;
            self.inner.loaded.notify_waiters();
        }
    }
}

/// A load this caller claimed: the step to ask for, and when it was decided.
#[derive(Debug)]
struct Load {
    step: u32,
    at_mono_ms: u64,
}

impl SegmentAllocator {
    /// An allocator for `biz_tag` with the default options. Touches the database only when
    /// the first id is asked for; the tag's row is created then if missing.
    pub fn new(store: &EventStore, biz_tag: &str) -> Result<Self, IdError> {
        Self::with_options(store, biz_tag, SegmentOptions::default())
    }

    /// [`SegmentAllocator::new`] with other options.
    pub fn with_options(
        store: &EventStore,
        biz_tag: &str,
        options: SegmentOptions,
    ) -> Result<Self, IdError> {
        if options.step_initial == 0 || options.step_initial > options.step_max {
            return Err(IdError::InvalidOptions(
                "segment steps must satisfy 0 < initial <= max",
            ));
        }
        if i32::try_from(options.step_max).is_err() {
            return Err(IdError::InvalidOptions(
                "the largest segment step must fit the step column (i32)",
            ));
        }
        Ok(Self {
            inner: Arc::new(Inner {
                db: store.db(),
                biz_tag: biz_tag.to_owned(),
                buffers: Mutex::new(Buffers {
                    current: None,
                    next: None,
                    loading: false,
                    step: options.step_initial,
                    loaded_at_mono_ms: None,
                    prefetch_after_mono_ms: 0,
                }),
                options,
                loaded: Notify::new(),
            }),
        })
    }

    /// The next id of the tag (the first is 1, or one past a hand-inserted `max_id`).
    pub async fn next(&self) -> Result<i64, IdError> {
        loop {
            let (load, loaded) = {
                let mut buffers = self.inner.buffers();
                if let Some(id) = buffers.take() {
                    if buffers.wants_prefetch(&*self.inner.options.clock) {
                        let load = buffers.claim_load(&self.inner.options);
                        let inner = Arc::clone(&self.inner);
                        tokio::spawn(async move {
                            if let Err(error) = inner.load(load).await {
                                warn!(%error, biz_tag = %inner.biz_tag, "loading the next segment failed");
                            }
                        });
                    }
                    return Ok(id);
                }
                if buffers.loading {
                    // registered before the lock is released: the load's signal cannot slip by
                    (None, Some(self.inner.loaded.notified()))
                } else {
                    (Some(buffers.claim_load(&self.inner.options)), None)
                }
            };
            if let Some(loaded) = loaded {
                loaded.await;
            }
            if let Some(load) = load {
                self.inner.load(load).await?;
            }
        }
    }

    /// The business tag.
    pub fn biz_tag(&self) -> &str {
        &self.inner.biz_tag
    }

    /// What the allocator holds now.
    pub fn status(&self) -> SegmentStatus {
        let buffers = self.inner.buffers();
        SegmentStatus {
            step: buffers.step,
            remaining: buffers.current.as_ref().map_or(0, Segment::remaining),
            next_ready: buffers.next.is_some(),
            loading: buffers.loading,
        }
    }
}

impl Buffers {
    /// An id from the current segment, switching to the next one when it is used up.
    fn take(&mut self) -> Option<i64> {
        if self.current.as_ref().is_none_or(|c| c.remaining() <= 0) {
            self.current = Some(self.next.take()?);
        }
        let current = self.current.as_mut()?;
        let id = current.next_id;
        current.next_id += 1;
        Some(id)
    }

    fn wants_prefetch(&self, clock: &dyn Clock) -> bool {
        !self.loading
            && self.next.is_none()
            && self.current.as_ref().is_some_and(|c| {
                let used = i64::from(c.step) - c.remaining();
                used * 100 >= i64::from(c.step) * i64::from(SEGMENT_PREFETCH_AT_PERCENT)
            })
            && (self.prefetch_after_mono_ms == 0
                || clock.monotonic_ms() >= self.prefetch_after_mono_ms)
    }

    fn claim_load(&mut self, options: &SegmentOptions) -> Load {
        self.loading = true;
        let at_mono_ms = options.clock.monotonic_ms();
        let step = match self.loaded_at_mono_ms {
            None => options.step_initial,
            Some(loaded_at) => step::next_step(
                self.step,
                at_mono_ms.saturating_sub(loaded_at),
                options.step_initial,
                options.step_max,
            ),
        };
        Load { step, at_mono_ms }
    }
}

impl Inner {
    fn buffers(&self) -> MutexGuard<'_, Buffers> {
        // no code panics while holding the lock, so the buffers are whole even if poisoned
        self.buffers.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs a claimed load and installs its segment as the next one.
    async fn load(&self, load: Load) -> Result<(), IdError> {
        let mut claim = Claim {
            inner: self,
            held: true,
        };
        let fetched = self.fetch(load.step).await;
        claim.held = false;
        {
            let mut buffers = self.buffers();
            buffers.loading = false;
            buffers.prefetch_after_mono_ms = match fetched {
                Ok(_) => 0,
                Err(_) => self.options.clock.monotonic_ms() + SEGMENT_PREFETCH_RETRY_MS,
            };
            if let Ok(max_id) = fetched {
                buffers.next = Some(Segment {
                    next_id: max_id - i64::from(load.step) + 1,
                    max_id,
                    step: load.step,
                });
                buffers.step = load.step;
                buffers.loaded_at_mono_ms = Some(load.at_mono_ms);
            }
        }
        // waiters retry: they take from the new segment, or load again and see the error
        self.loaded.notify_waiters();
        fetched.map(|_| ())
    }

    /// Takes the next range of `step` ids; returns its last id.
    #[instrument(skip(self), fields(biz_tag = %self.biz_tag))]
    async fn fetch(&self, step: u32) -> Result<i64, IdError> {
        let step =
            i32::try_from(step).map_err(|_| IdError::InvalidOptions("segment step beyond i32"))?;
        let db = &self.db;
        let next = db.dialect().pick(
            include_str!("postgres/next_segment.sql"),
            include_str!("sqlite/next_segment.sql"),
        );
        let row = db
            .query(next)
            .bind(self.biz_tag.as_str())
            .bind(step)
            .fetch_one(db)
            .await?;
        Ok(row.try_get(0)?)
    }
}
