//! Work that runs on one node at a time, under a lease of the event store
//! ([`event_store::Lease`]): every node with the role tries to take the lease; the one that
//! holds it runs the work, renews the lease every [`RENEW_EVERY`] and stops the work when it
//! cannot (another node took it, or the database did not answer for most of [`LEASE_TTL`]);
//! the others try again every [`ACQUIRE_EVERY`]. On shutdown the work stops and the lease is
//! given back, so another node takes it at once; when a node dies, its leases expire and are
//! taken within [`LEASE_TTL`] and a try.
//!
//! The lease keeps the work to one node in the normal course; what keeps its effects right
//! when two ever overlap (a node paused past its lease) is the work's own: a projection moves
//! its checkpoint only from where it read it, reactions issue deduplicated commands, and the
//! relay's messages carry a JetStream `Nats-Msg-Id`.

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use event_store::follower::DEFAULT_SHARD;
use event_store::{ErrorChain, EventStore};
use prometheus::{IntGaugeVec, Opts, Registry};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// How long a lease lasts unless renewed: how soon work of a dead node is taken over.
pub const LEASE_TTL: Duration = Duration::from_secs(5);
/// How often the holder renews.
pub const RENEW_EVERY: Duration = Duration::from_secs(1);
/// How often a node without the lease tries to take it.
pub const ACQUIRE_EVERY: Duration = Duration::from_secs(1);

/// The leases of one node in one shard's database: which it holds, as `/readyz` and
/// `/metrics` show (`lease_held{lease,shard}`: every shard's database has a lease of each
/// name, ADR 42).
#[derive(Clone)]
pub struct Leases {
    inner: Arc<Inner>,
}

struct Inner {
    store: EventStore,
    /// The shard whose database holds the leases: the gauge's `shard` label.
    shard: String,
    holder: String,
    held: Mutex<BTreeSet<String>>,
    gauge: IntGaugeVec,
}

impl Leases {
    /// Leases of `store` (the default shard's database, or the one database without shards)
    /// taken as `holder` (unique per process), exporting `lease_held{lease,shard}` to
    /// `registry`.
    pub fn new(
        store: EventStore,
        holder: String,
        registry: &Registry,
    ) -> Result<Self, prometheus::Error> {
        let gauge = IntGaugeVec::new(
            Opts::new("lease_held", "1 while this node holds the lease"),
            &["lease", "shard"],
        )?;
        registry.register(Box::new(gauge.clone()))?;
        Ok(Self {
            inner: Arc::new(Inner {
                store,
                shard: DEFAULT_SHARD.to_owned(),
                holder,
                held: Mutex::new(BTreeSet::new()),
                gauge,
            }),
        })
    }

    /// The same holder's leases in `store`, the database of shard `shard` (ADR 42),
    /// exporting to the same gauge under that shard's label; which of them it holds is kept
    /// apart from this database's.
    pub fn on(&self, shard: &str, store: EventStore) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                shard: shard.to_owned(),
                holder: self.inner.holder.clone(),
                held: Mutex::new(BTreeSet::new()),
                gauge: self.inner.gauge.clone(),
            }),
        }
    }

    /// The shard whose database holds these leases.
    pub fn shard(&self) -> &str {
        &self.inner.shard
    }

    /// Who this node is to the lease table.
    pub fn holder(&self) -> &str {
        &self.inner.holder
    }

    /// The leases this node holds now, by name.
    pub fn held(&self) -> Vec<String> {
        self.inner
            .held
            .lock()
            .map(|held| held.iter().cloned().collect())
            .unwrap_or_default()
    }

    fn mark(&self, name: &str, held: bool) {
        if let Ok(mut set) = self.inner.held.lock() {
            if held {
                set.insert(name.to_owned());
            } else {
                set.remove(name);
            }
        }
        self.inner
            .gauge
            .with_label_values(&[name, &self.inner.shard])
            .set(i64::from(held));
    }

    /// Runs `work` under lease `name` until `shutdown`: each time this node takes the lease,
    /// `work` is called with a token that is cancelled when the lease is lost or on shutdown,
    /// and the future it returns runs until then.
    pub fn spawn<F, Fut>(
        &self,
        name: impl Into<String>,
        shutdown: &CancellationToken,
        work: F,
    ) -> JoinHandle<()>
    where
        F: FnMut(CancellationToken) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        tokio::spawn(self.clone().run(name.into(), shutdown.clone(), work))
    }

    async fn run<F, Fut>(self, name: String, shutdown: CancellationToken, mut work: F)
    where
        F: FnMut(CancellationToken) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let store = &self.inner.store;
        let holder = self.holder().to_owned();
        loop {
            if !self.take(&name, &shutdown).await {
                return;
            }
            self.mark(&name, true);
            tracing::info!(lease = %name, holder = %holder, "lease taken: running it here");
            let token = shutdown.child_token();
            let mut running = tokio::spawn(work(token.clone()));
            let mut renewed = Instant::now();
            let ended = loop {
                tokio::select! {
                    ended = &mut running => break Some(ended),
                    () = tokio::time::sleep(RENEW_EVERY) => {}
                }
                match store.acquire_lease(&name, &holder, LEASE_TTL).await {
                    Ok(true) => renewed = Instant::now(),
                    Ok(false) => {
                        tracing::warn!(lease = %name, "lease taken by another node: stopping it here");
                        break None;
                    }
                    Err(err) if renewed.elapsed() + RENEW_EVERY >= LEASE_TTL => {
                        tracing::warn!(lease = %name, error = %ErrorChain(&err), "cannot renew the lease before it expires: stopping it here");
                        break None;
                    }
                    Err(err) => {
                        tracing::debug!(lease = %name, error = %ErrorChain(&err), "renewing the lease failed; trying again");
                    }
                }
            };
            let ended = match ended {
                Some(ended) => ended,
                None => {
                    token.cancel();
                    running.await
                }
            };
            self.mark(&name, false);
            if let Err(err) = ended {
                tracing::error!(lease = %name, error = %err, "the leased work failed");
            }
            if shutdown.is_cancelled() {
                if let Err(err) = store.release_lease(&name, &holder).await {
                    tracing::warn!(lease = %name, error = %ErrorChain(&err), "giving the lease back failed: it expires instead");
                }
                return;
            }
            // lost, or the work ended by itself: not straight back into it
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(ACQUIRE_EVERY) => {}
            }
        }
    }

    /// Waits until this node holds lease `name`: `false` on shutdown first.
    async fn take(&self, name: &str, shutdown: &CancellationToken) -> bool {
        loop {
            match self
                .inner
                .store
                .acquire_lease(name, self.holder(), LEASE_TTL)
                .await
            {
                Ok(true) => return true,
                Ok(false) => {}
                Err(err) => {
                    tracing::debug!(lease = %name, error = %ErrorChain(&err), "taking the lease failed; trying again");
                }
            }
            tokio::select! {
                () = shutdown.cancelled() => return false,
                () = tokio::time::sleep(ACQUIRE_EVERY) => {}
            }
        }
    }
}
