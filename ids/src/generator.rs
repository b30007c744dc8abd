//! The order-id generator: a leased worker id, a [`Sequencer`], and the task that renews the
//! lease.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use event_store::{Db, EventStore};
use tokio::task::JoinHandle;
use tracing::{info, instrument, warn};

use crate::clock::{Clock, SystemClock};
use crate::sequencer::{Next, Sequencer};
use crate::{IdError, gene_of_buyer, lease};

/// How long a worker-id lease lasts without renewal.
pub const LEASE_TTL_MS: u64 = 30_000;
/// How often the background task renews the lease: three tries per TTL.
pub const LEASE_RENEW_INTERVAL_MS: u64 = LEASE_TTL_MS / 3;
/// A generator stops issuing this long before its lease could expire in the database: room
/// for a stalled process and for the local and the database clocks running at different
/// rates.
pub const LEASE_SAFETY_MARGIN_MS: u64 = 5_000;
/// How soon a failed renewal is tried again.
pub const LEASE_RENEW_RETRY_MS: u64 = 1_000;

/// How a generator leases its worker id and reads time.
#[derive(Clone, Debug)]
pub struct GeneratorOptions {
    /// Where the generator reads time.
    pub clock: Arc<dyn Clock>,
    /// How long a lease lasts without renewal ([`LEASE_TTL_MS`]).
    pub lease_ttl_ms: u64,
    /// How often it is renewed ([`LEASE_RENEW_INTERVAL_MS`]).
    pub lease_renew_interval_ms: u64,
    /// How long before the lease could expire the generator stops issuing
    /// ([`LEASE_SAFETY_MARGIN_MS`]).
    pub lease_safety_margin_ms: u64,
}

impl Default for GeneratorOptions {
    fn default() -> Self {
        Self {
            clock: Arc::new(SystemClock::new()),
            lease_ttl_ms: LEASE_TTL_MS,
            lease_renew_interval_ms: LEASE_RENEW_INTERVAL_MS,
            lease_safety_margin_ms: LEASE_SAFETY_MARGIN_MS,
        }
    }
}

impl GeneratorOptions {
    fn validate(&self) -> Result<(), IdError> {
        if self.lease_safety_margin_ms >= self.lease_ttl_ms {
            return Err(IdError::InvalidOptions(
                "the lease safety margin must be shorter than the lease TTL",
            ));
        }
        if self.lease_renew_interval_ms == 0 || self.lease_renew_interval_ms >= self.usable_ms() {
            return Err(IdError::InvalidOptions(
                "the lease must be renewed more often than it lapses (0 < interval < TTL - margin)",
            ));
        }
        Ok(())
    }

    /// How long after a renewal began the generator may issue.
    fn usable_ms(&self) -> u64 {
        self.lease_ttl_ms - self.lease_safety_margin_ms
    }

    /// The latest id time a lease renewed now promises to stay within: past the moment the
    /// generator stops issuing, so that it never gets in the way on a clock that runs
    /// normally; and never below an id already issued.
    fn promise_ms(&self, last_ms: u64) -> u64 {
        last_ms.max(self.clock.wall_ms().saturating_add(self.lease_ttl_ms))
    }
}

#[derive(Debug)]
struct Lease {
    worker_id: u16,
    token: String,
    /// When the latest successful renewal began, on the monotonic clock.
    renewed_at_mono_ms: u64,
    /// The promise stored in the database: no id may have a later time.
    covered_ms: u64,
    /// Another generator took the worker id over.
    lost: bool,
}

#[derive(Debug)]
struct State {
    lease: Lease,
    sequencer: Sequencer,
}

#[derive(Debug)]
struct Inner {
    db: Db,
    owner: String,
    options: GeneratorOptions,
    state: Mutex<State>,
    /// One renewal at a time: the background task's and [`OrderIdGenerator::renew`]'s.
    renewing: tokio::sync::Mutex<()>,
}

/// Issues order ids (see the crate docs for the layout) under a worker id leased from the
/// database, which a background task renews until [`OrderIdGenerator::shutdown`].
///
/// Share it behind an `Arc`. Dropping it without `shutdown` stops the renewals and leaves the
/// lease to expire, as a crash would.
#[derive(Debug)]
pub struct OrderIdGenerator {
    inner: Arc<Inner>,
    /// The renewing task, taken by the first [`OrderIdGenerator::shutdown`].
    renewal: Mutex<Option<JoinHandle<()>>>,
}

impl OrderIdGenerator {
    /// Leases a worker id for `owner` (a name for operators: host, pod) with the default
    /// options, and starts renewing it.
    pub async fn start(store: &EventStore, owner: &str) -> Result<Self, IdError> {
        Self::start_with(store, owner, GeneratorOptions::default()).await
    }

    /// [`OrderIdGenerator::start`] with other options.
    ///
    /// When the worker id's earlier owner covered times ahead of this clock, waits until the
    /// clock passes them, up to one lease TTL; further ahead it gives the worker id back and
    /// refuses with [`IdError::ClockBehindWorker`].
    #[instrument(skip_all, fields(owner = %owner))]
    pub async fn start_with(
        store: &EventStore,
        owner: &str,
        options: GeneratorOptions,
    ) -> Result<Self, IdError> {
        options.validate()?;
        let db = store.db();
        let state = lease_new(&db, owner, &options).await?;
        let (worker_id, floor_ms) = (state.lease.worker_id, state.sequencer.last_ms());
        info!(worker_id, floor_ms, "leased a worker id");
        let clock = Arc::clone(&options.clock);
        let max_wait_ms = options.lease_ttl_ms;
        let inner = Arc::new(Inner {
            db,
            owner: owner.to_owned(),
            options,
            state: Mutex::new(state),
            renewing: tokio::sync::Mutex::new(()),
        });
        let generator = Self {
            renewal: Mutex::new(Some(tokio::spawn(renew_periodically(Arc::clone(&inner))))),
            inner,
        };
        let now_ms = clock.wall_ms();
        if floor_ms >= now_ms {
            let behind_ms = floor_ms + 1 - now_ms;
            if behind_ms > max_wait_ms {
                generator.shutdown().await?;
                return Err(IdError::ClockBehindWorker {
                    worker_id,
                    behind_ms,
                });
            }
            info!(
                worker_id,
                behind_ms, "waiting for the clock to pass the worker id's floor"
            );
            wait_until(&*clock, floor_ms + 1).await;
        }
        Ok(generator)
    }

    /// The next order id, carrying `buyer_id`'s gene.
    ///
    /// Waits when this ms's sequence is used up, or when the clock moved back by at most
    /// [`crate::CLOCK_BACKWARD_WAIT_MAX_MS`]; refuses when it moved back further, or when the
    /// lease may have lapsed or was lost. Never issues an id twice.
    pub async fn next_id(&self, buyer_id: &str) -> Result<u64, IdError> {
        let gene = gene_of_buyer(buyer_id);
        loop {
            match self.inner.try_next(gene) {
                Next::Issued(id) => return Ok(id),
                Next::Refused(error) => return Err(error),
                Next::WaitUntil(wall_ms) => wait_until(&*self.inner.options.clock, wall_ms).await,
            }
        }
    }

    /// The worker id the generator issues under now (it changes only after a lost lease).
    pub fn worker_id(&self) -> u16 {
        self.inner.state().lease.worker_id
    }

    /// Renews the lease now, as the background task does every
    /// [`GeneratorOptions::lease_renew_interval_ms`]; after a lost lease, leases a new worker
    /// id.
    pub async fn renew(&self) -> Result<(), IdError> {
        self.inner.renew().await
    }

    /// Stops renewing and releases the worker id, recording the time of the last id issued
    /// so that the next owner can start right after it. No id is issued afterwards (they are
    /// refused as [`IdError::LeaseLost`]); a second call does nothing.
    pub async fn shutdown(&self) -> Result<(), IdError> {
        let renewal = self
            .renewal
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let Some(renewal) = renewal else {
            return Ok(());
        };
        renewal.abort();
        // the task ends at its next await; a renewal it was making may or may not have landed
        let _cancelled = renewal.await;
        let _turn = self.inner.renewing.lock().await;
        let (worker_id, token, last_ms, lost) = {
            let state = self.inner.state();
            (
                state.lease.worker_id,
                state.lease.token.clone(),
                state.sequencer.last_ms(),
                state.lease.lost,
            )
        };
        // from here on the worker id may belong to another owner
        self.inner.state().lease.lost = true;
        if !lost && lease::release(&self.inner.db, worker_id, &token, last_ms).await? {
            info!(worker_id, last_ms, "released the worker id");
        }
        Ok(())
    }
}

impl Drop for OrderIdGenerator {
    fn drop(&mut self) {
        if let Some(renewal) = self
            .renewal
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            renewal.abort();
        }
    }
}

impl Inner {
    fn state(&self) -> MutexGuard<'_, State> {
        // no code panics while holding the lock, so the state is whole even if poisoned
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn try_next(&self, gene: u16) -> Next {
        let clock = &*self.options.clock;
        let mut state = self.state();
        let worker_id = state.lease.worker_id;
        if state.lease.lost {
            return Next::Refused(IdError::LeaseLost { worker_id });
        }
        let since_renewal_ms = clock
            .monotonic_ms()
            .saturating_sub(state.lease.renewed_at_mono_ms);
        if since_renewal_ms >= self.options.usable_ms() {
            return Next::Refused(IdError::LeaseLapsed {
                worker_id,
                since_renewal_ms,
            });
        }
        let covered_ms = state.lease.covered_ms;
        state.sequencer.next(clock.wall_ms(), gene, covered_ms)
    }

    async fn renew(&self) -> Result<(), IdError> {
        let _turn = self.renewing.lock().await;
        let (worker_id, token, last_ms, lost) = {
            let state = self.state();
            (
                state.lease.worker_id,
                state.lease.token.clone(),
                state.sequencer.last_ms(),
                state.lease.lost,
            )
        };
        if !lost {
            let started_ms = self.options.clock.monotonic_ms();
            let promise_ms = self.options.promise_ms(last_ms);
            let ttl_ms = self.options.lease_ttl_ms;
            if lease::renew(&self.db, worker_id, &token, ttl_ms, promise_ms).await? {
                let mut state = self.state();
                state.lease.renewed_at_mono_ms = started_ms;
                state.lease.covered_ms = state.lease.covered_ms.max(promise_ms);
                return Ok(());
            }
            self.state().lease.lost = true;
            warn!(worker_id, "the worker id was taken over; leasing another");
        }
        let fresh = lease_new(&self.db, &self.owner, &self.options).await?;
        info!(
            worker_id = fresh.lease.worker_id,
            floor_ms = fresh.sequencer.last_ms(),
            "leased a worker id"
        );
        *self.state() = fresh;
        Ok(())
    }
}

/// Acquires a worker id and stores its first promise.
async fn lease_new(db: &Db, owner: &str, options: &GeneratorOptions) -> Result<State, IdError> {
    let token = uuid::Uuid::new_v4().to_string();
    let acquired = lease::acquire(db, owner, &token, options.lease_ttl_ms).await?;
    let worker_id = acquired.worker_id;
    // until this lands the lease promises only the floor, so nothing could be issued
    let started_ms = options.clock.monotonic_ms();
    let promise_ms = options.promise_ms(acquired.floor_ms);
    match lease::renew(db, worker_id, &token, options.lease_ttl_ms, promise_ms).await {
        Ok(true) => Ok(State {
            lease: Lease {
                worker_id,
                token,
                renewed_at_mono_ms: started_ms,
                covered_ms: promise_ms,
                lost: false,
            },
            sequencer: Sequencer::new(worker_id, acquired.floor_ms),
        }),
        Ok(false) => Err(IdError::LeaseLost { worker_id }),
        Err(error) => {
            // best effort: otherwise the lease expires on its own
            let _ = lease::release(db, worker_id, &token, acquired.floor_ms).await;
            Err(error)
        }
    }
}

async fn renew_periodically(inner: Arc<Inner>) {
    let interval_ms = inner.options.lease_renew_interval_ms;
    let mut delay_ms = interval_ms;
    loop {
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        delay_ms = match inner.renew().await {
            Ok(()) => interval_ms,
            Err(error) => {
                warn!(%error, "renewing the worker-id lease failed; retrying");
                LEASE_RENEW_RETRY_MS.min(interval_ms)
            }
        };
    }
}

/// Returns once the wall clock shows `wall_ms`: sleeps most of the way, then re-reads the
/// clock, yielding to other tasks, for the last ms (a timer's granularity is a whole ms).
async fn wait_until(clock: &dyn Clock, wall_ms: u64) {
    loop {
        let now_ms = clock.wall_ms();
        if now_ms >= wall_ms {
            return;
        }
        let remaining_ms = wall_ms - now_ms;
        if remaining_ms > 1 {
            tokio::time::sleep(Duration::from_millis(remaining_ms - 1)).await;
        } else {
            tokio::task::yield_now().await;
        }
    }
}
