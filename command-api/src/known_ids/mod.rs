//! The ids the log knows, in a Bloom filter per process, so that a made-up id is answered
//! 404 without a database read (DESIGN.md section 6, ADR 39): a flood of made-up order, SKU
//! or product ids costs the store nothing.
//!
//! A Bloom filter answers "certainly absent" or "maybe present". The filter holds the ids of
//! every stream of the [`TRACKED`] aggregate types, keyed on `(aggregate type, id)`; a
//! route that takes an id from its path asks it first and answers an absent id with the same
//! problem as a real not-found. A present id is read as before, so a false positive costs
//! one read, never a wrong answer.
//!
//! It is filled from the log at start and kept up to date from it ([`follow`]): ids written
//! by other nodes arrive with the log's events, ids written by this process as soon as their
//! append commits (the store's [`AppendObserver`]), so that a resource answers at once on
//! the node that created it.
//!
//! It is sized for `bloom_expected_items` at `bloom_false_positive_rate`. Past that many ids
//! it grows as a chain (a scalable Bloom filter): each new stage holds twice the ids of the
//! one before at half its false-positive rate, so the chain's rate stays under twice the
//! configured one however far it grows, and nothing is rebuilt.

pub mod follow;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{PoisonError, RwLock};

use cqrs_es::Aggregate;
use event_store::AppendObserver;
use fastbloom::AtomicBloomFilter;
use prometheus::{IntCounterVec, IntGauge, Opts, Registry};

/// Orders' aggregate type.
pub const ORDER: &str = <domain::Order as Aggregate>::TYPE;
/// SKUs' (stock's) aggregate type.
pub const SKU: &str = <domain::Sku as Aggregate>::TYPE;
/// Products' aggregate type.
pub const PRODUCT: &str = <domain::Product as Aggregate>::TYPE;
/// Flash-sale campaigns' aggregate type.
pub const CAMPAIGN: &str = <domain::Campaign as Aggregate>::TYPE;

/// The aggregate types whose ids the filter holds: those a route takes from its path (or a
/// placement from its body: the campaign it names).
pub const TRACKED: [&str; 4] = [ORDER, SKU, PRODUCT, CAMPAIGN];

/// The fewest ids a stage is sized for, whatever `bloom_expected_items` says.
const STAGE_ITEMS_MIN: usize = 1_024;
/// Each new stage holds this many times the ids of the one before...
const STAGE_GROWTH: usize = 2;
/// ...at this fraction of its false-positive rate: the chain's rate stays under the first
/// stage's divided by (1 - this).
const STAGE_TIGHTENING: f64 = 0.5;

/// Why the filter cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum KnownIdsError {
    /// The false-positive rate is not strictly between 0 and 1.
    #[error("the false-positive rate must be between 0 and 1 exclusive, not {0}")]
    Rate(f64),
    /// Its metrics could not be registered.
    #[error("cannot register the filter's metrics")]
    Metrics(#[from] prometheus::Error),
}

/// One Bloom filter of the chain and the ids put into it.
struct Stage {
    filter: AtomicBloomFilter,
    capacity: usize,
    items: AtomicUsize,
}

impl Stage {
    fn new(capacity: usize, false_positive_rate: f64) -> Self {
        Self {
            filter: AtomicBloomFilter::with_false_pos(false_positive_rate).expected_items(capacity),
            capacity,
            items: AtomicUsize::new(0),
        }
    }
}

/// The filter's metrics, on `/metrics`.
#[derive(Clone)]
struct KnownIdsMetrics {
    reads_saved: IntCounterVec,
    ids: IntGauge,
    stages: IntGauge,
}

impl KnownIdsMetrics {
    fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let reads_saved = IntCounterVec::new(
            Opts::new(
                "bloom_reads_saved_total",
                "Ids answered as unknown by the filter of known ids, without a database read",
            ),
            &["aggregate"],
        )?;
        let ids = IntGauge::new("bloom_ids", "Ids put into the filter of known ids")?;
        let stages = IntGauge::new(
            "bloom_stages",
            "Stages of the filter of known ids (1 until it outgrows bloom_expected_items)",
        )?;
        registry.register(Box::new(reads_saved.clone()))?;
        registry.register(Box::new(ids.clone()))?;
        registry.register(Box::new(stages.clone()))?;
        Ok(Self {
            reads_saved,
            ids,
            stages,
        })
    }
}

/// The ids of every stream of the [`TRACKED`] types that the process has seen, as a chain of
/// Bloom filters: no false negatives, false positives at about the configured rate.
pub struct KnownIds {
    stages: RwLock<Vec<Stage>>,
    false_positive_rate: f64,
    metrics: Option<KnownIdsMetrics>,
}

impl std::fmt::Debug for KnownIds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KnownIds")
            .field("false_positive_rate", &self.false_positive_rate)
            .field("stages", &self.stage_count())
            .finish_non_exhaustive()
    }
}

impl KnownIds {
    /// An empty filter for `expected_items` ids at `false_positive_rate`, without metrics.
    pub fn new(false_positive_rate: f64, expected_items: u64) -> Result<Self, KnownIdsError> {
        if !(false_positive_rate > 0.0 && false_positive_rate < 1.0) {
            return Err(KnownIdsError::Rate(false_positive_rate));
        }
        let capacity = usize::try_from(expected_items)
            .unwrap_or(usize::MAX)
            .max(STAGE_ITEMS_MIN);
        Ok(Self {
            stages: RwLock::new(vec![Stage::new(capacity, false_positive_rate)]),
            false_positive_rate,
            metrics: None,
        })
    }

    /// [`new`](Self::new), counting on `/metrics` through `registry`.
    pub fn with_metrics(
        false_positive_rate: f64,
        expected_items: u64,
        registry: &Registry,
    ) -> Result<Self, KnownIdsError> {
        let mut known = Self::new(false_positive_rate, expected_items)?;
        let metrics = KnownIdsMetrics::register(registry)?;
        metrics.stages.set(1);
        known.metrics = Some(metrics);
        Ok(known)
    }

    /// Puts `kind`'s id `id` in, unless `kind` is not [`TRACKED`].
    pub fn insert(&self, kind: &str, id: &str) {
        if !TRACKED.contains(&kind) {
            return;
        }
        let key = (kind, id);
        let full = {
            let stages = self.read();
            // an id already in (most events are of streams that exist) fills no stage
            if stages.iter().any(|stage| stage.filter.contains(&key)) {
                return;
            }
            let Some(last) = stages.last() else {
                return;
            };
            last.filter.insert(&key);
            if let Some(metrics) = &self.metrics {
                metrics.ids.inc();
            }
            last.items.fetch_add(1, Ordering::Relaxed) + 1 >= last.capacity
        };
        if full {
            self.grow();
        }
    }

    /// Whether `kind`'s id `id` may exist: `false` means it certainly does not (counted as a
    /// read saved), `true` that it does or is a false positive.
    pub fn may_exist(&self, kind: &str, id: &str) -> bool {
        if !TRACKED.contains(&kind) {
            return true;
        }
        let key = (kind, id);
        let present = self.read().iter().any(|stage| stage.filter.contains(&key));
        if !present && let Some(metrics) = &self.metrics {
            metrics.reads_saved.with_label_values(&[kind]).inc();
        }
        present
    }

    /// The stages of the chain: 1 until the filter outgrows the ids it was sized for.
    pub fn stage_count(&self) -> usize {
        self.read().len()
    }

    /// Adds a stage when the last one is full (once, however many inserts found it full).
    fn grow(&self) {
        let mut stages = self.stages.write().unwrap_or_else(PoisonError::into_inner);
        let Some(last) = stages.last() else {
            return;
        };
        if last.items.load(Ordering::Relaxed) < last.capacity {
            return;
        }
        let tightening = STAGE_TIGHTENING.powi(i32::try_from(stages.len()).unwrap_or(i32::MAX));
        let capacity = last.capacity.saturating_mul(STAGE_GROWTH);
        stages.push(Stage::new(capacity, self.false_positive_rate * tightening));
        if let Some(metrics) = &self.metrics {
            metrics
                .stages
                .set(i64::try_from(stages.len()).unwrap_or(i64::MAX));
        }
        tracing::info!(
            stages = stages.len(),
            capacity,
            "the filter of known ids outgrew its size: a stage was added"
        );
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Vec<Stage>> {
        self.stages.read().unwrap_or_else(PoisonError::into_inner)
    }
}

impl AppendObserver for KnownIds {
    fn appended(&self, aggregate_type: &str, aggregate_id: &str) {
        self.insert(aggregate_type, aggregate_id);
    }
}

#[cfg(test)]
mod tests;
