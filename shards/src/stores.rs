//! The command side's way to the log (ADR 42): each stream is loaded from and appended to the
//! store of its gene's shard, an order's by the gene its id carries, a cart's by its buyer's,
//! every other aggregate's by its id's hash ([`event_store::gene_of_stream`]).
//!
//! With no shards configured, [`Stores`] is the one store and every call goes straight to it
//! (one branch, nothing read, allocated or locked). With shards, a call reads the followed map
//! (the watch channel's value) and borrows the shard's store. An append that meets a fence
//! ([`StoreError::Moved`]: the gene's writes moved to another shard under a map version this
//! node has not seen yet) waits, at most [`MOVED_WAIT_MAX`], for the node to follow a newer map
//! and runs again on the new route; past the bound the error stands, and nothing was written
//! to the old shard.

use std::collections::HashMap;
use std::time::Duration;

use cqrs_es::Aggregate;
use event_store::{Db, EventMetadata, EventStore, ExecuteError, Executed, Loaded, StoreError};

use crate::router::ShardRouter;

/// Longest a command fenced off a gene waits for the node to follow the map that moved it.
pub const MOVED_WAIT_MAX: Duration = Duration::from_secs(5);

/// The event store of every stream: one, or one per shard by the map in force.
#[derive(Debug, Clone)]
pub struct Stores {
    default: EventStore,
    router: Option<ShardRouter>,
    /// The default store's database, routing keys by the map when sharded.
    db: Db,
    moved_wait: Duration,
}

impl Stores {
    /// Every stream in `store` (no shards: the embedded store, or PostgreSQL with none
    /// configured).
    pub fn one(store: EventStore) -> Self {
        Self {
            db: store.db(),
            default: store,
            router: None,
            moved_wait: MOVED_WAIT_MAX,
        }
    }

    /// Each stream in its shard's store under `router`'s map; `default` is the default
    /// shard's (the catalog's) store, where what has no key lives (the id tables, leases).
    pub fn sharded(default: EventStore, router: ShardRouter) -> Self {
        Self {
            db: router.routed_db().unwrap_or_else(|| default.db()),
            default,
            router: Some(router),
            moved_wait: MOVED_WAIT_MAX,
        }
    }

    /// The same stores, with a fenced command waiting at most `wait` for a newer map.
    #[must_use]
    pub fn with_moved_wait(mut self, wait: Duration) -> Self {
        self.moved_wait = wait;
        self
    }

    /// The default shard's store (the only one without shards).
    pub fn default_store(&self) -> &EventStore {
        &self.default
    }

    /// The router, when shards are configured.
    pub fn router(&self) -> Option<&ShardRouter> {
        self.router.as_ref()
    }

    /// Every shard's store (the one store without shards), for work that runs on each log.
    pub fn every(&self) -> Vec<&EventStore> {
        match &self.router {
            Some(router) => router.stores().map(|(_, store)| store).collect(),
            None => vec![&self.default],
        }
    }

    /// The handle whose keys route to their shard's database ([`Db::route`]); without
    /// shards, the one database's.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// The store `A`'s stream `id` is appended to now.
    pub fn writes<A: Aggregate>(&self, id: &str) -> Result<&EventStore, StoreError> {
        match &self.router {
            None => Ok(&self.default),
            Some(router) => Ok(router.write_store(A::TYPE, id)?.0),
        }
    }

    /// The store `A`'s stream `id` is read from now.
    pub fn reads<A: Aggregate>(&self, id: &str) -> Result<&EventStore, StoreError> {
        match &self.router {
            None => Ok(&self.default),
            Some(router) => Ok(router.read_store(A::TYPE, id)?.0),
        }
    }

    /// `A`'s stream `id`, read from its shard ([`EventStore::load`]).
    pub async fn load<A: Aggregate>(&self, id: &str) -> Result<Loaded<A>, StoreError> {
        self.reads::<A>(id)?.load::<A>(id).await
    }

    /// [`EventStore::load_many`], each stream read from its shard.
    pub async fn load_many<A: Aggregate>(
        &self,
        ids: &[&str],
    ) -> Result<HashMap<String, Loaded<A>>, StoreError> {
        if self.router.is_none() {
            return self.default.load_many::<A>(ids).await;
        }
        let mut loaded = HashMap::with_capacity(ids.len());
        for (store, ids) in self.by_read_store::<A>(ids)? {
            loaded.extend(store.load_many::<A>(&ids).await?);
        }
        Ok(loaded)
    }

    /// [`EventStore::load_many_fresh`], each stream read from its shard.
    pub async fn load_many_fresh<A>(
        &self,
        ids: &[&str],
    ) -> Result<HashMap<String, Loaded<A>>, StoreError>
    where
        A: Aggregate + Clone + 'static,
    {
        if self.router.is_none() {
            return self.default.load_many_fresh::<A>(ids).await;
        }
        let mut loaded = HashMap::with_capacity(ids.len());
        for (store, ids) in self.by_read_store::<A>(ids)? {
            loaded.extend(store.load_many_fresh::<A>(&ids).await?);
        }
        Ok(loaded)
    }

    /// [`EventStore::stream_versions_fresh`], each stream's version from the shard it is
    /// written to (whose slots keep the states the versions are checked against).
    pub async fn stream_versions_fresh<A: Aggregate>(
        &self,
        ids: &[&str],
    ) -> Result<HashMap<String, u64>, StoreError> {
        if self.router.is_none() {
            return self.default.stream_versions_fresh::<A>(ids).await;
        }
        let mut versions = HashMap::with_capacity(ids.len());
        for (store, ids) in self.grouped(ids, Self::writes::<A>)? {
            versions.extend(store.stream_versions_fresh::<A>(&ids).await?);
        }
        Ok(versions)
    }

    /// `ids` grouped by the store each is read from.
    fn by_read_store<'a, A: Aggregate>(
        &self,
        ids: &[&'a str],
    ) -> Result<Vec<(&EventStore, Vec<&'a str>)>, StoreError> {
        self.grouped(ids, Self::reads::<A>)
    }

    /// `ids` grouped by the store `route` gives each.
    fn grouped<'a>(
        &self,
        ids: &[&'a str],
        route: impl for<'s> Fn(&'s Self, &str) -> Result<&'s EventStore, StoreError>,
    ) -> Result<Vec<(&EventStore, Vec<&'a str>)>, StoreError> {
        let mut groups: Vec<(&EventStore, Vec<&'a str>)> = Vec::new();
        for &id in ids {
            let store = route(self, id)?;
            match groups.iter_mut().find(|(s, _)| std::ptr::eq(*s, store)) {
                Some((_, group)) => group.push(id),
                None => groups.push((store, vec![id])),
            }
        }
        Ok(groups)
    }

    /// [`EventStore::current`] on the stream's write shard.
    pub async fn current<A>(&self, id: &str) -> Result<Loaded<A>, StoreError>
    where
        A: Aggregate + Clone + 'static,
    {
        self.writes::<A>(id)?.current::<A>(id).await
    }

    /// [`EventStore::current_or_new`] on the stream's write shard.
    pub async fn current_or_new<A>(&self, id: &str) -> Result<Loaded<A>, StoreError>
    where
        A: Aggregate + Clone + 'static,
    {
        self.writes::<A>(id)?.current_or_new::<A>(id).await
    }

    /// [`EventStore::kept`] on the stream's write shard.
    pub fn kept<A>(&self, id: &str) -> Option<Loaded<A>>
    where
        A: Aggregate + Clone + 'static,
    {
        self.writes::<A>(id).ok()?.kept::<A>(id)
    }

    /// [`EventStore::kept_with`] on the stream's write shard.
    pub async fn kept_with<A, R>(&self, id: &str, look: impl FnOnce(&A) -> R) -> Option<(u64, R)>
    where
        A: Aggregate + 'static,
    {
        self.writes::<A>(id).ok()?.kept_with::<A, R>(id, look).await
    }

    /// [`EventStore::presume_new`] on the stream's write shard (`false`: not presumed, as
    /// when a command is on it).
    pub fn presume_new<A>(&self, id: &str) -> bool
    where
        A: Aggregate + 'static,
    {
        self.writes::<A>(id)
            .is_ok_and(|store| store.presume_new::<A>(id))
    }

    /// [`event_store::execute`] on the stream's shard.
    pub async fn execute<A, F>(
        &self,
        id: &str,
        expected_version: Option<u64>,
        metadata: &EventMetadata,
        decide: F,
    ) -> Result<Executed<A>, ExecuteError<A::Error>>
    where
        A: Aggregate + Clone + 'static,
        A::Error: 'static,
        F: Fn(&A) -> Result<Vec<A::Event>, A::Error>,
    {
        self.execute_with(id, expected_version, metadata, decide, A::clone)
            .await
    }

    /// [`event_store::execute_with`] on the stream's shard; a command fenced off the shard
    /// waits (bounded) for a newer map and runs again where it routes then.
    pub async fn execute_with<A, F, R>(
        &self,
        id: &str,
        expected_version: Option<u64>,
        metadata: &EventMetadata,
        decide: F,
        answer: impl Fn(&A) -> R,
    ) -> Result<Executed<R>, ExecuteError<A::Error>>
    where
        A: Aggregate + Clone + 'static,
        A::Error: 'static,
        F: Fn(&A) -> Result<Vec<A::Event>, A::Error>,
    {
        let Some(router) = &self.router else {
            return event_store::execute_with(
                &self.default,
                id,
                expected_version,
                metadata,
                decide,
                answer,
            )
            .await;
        };
        let deadline = tokio::time::Instant::now() + self.moved_wait;
        loop {
            let (store, routed_by) = router.write_store(A::TYPE, id)?;
            let executed =
                event_store::execute_with(store, id, expected_version, metadata, &decide, &answer)
                    .await;
            let Err(ExecuteError::Store(StoreError::Moved { gene, map_version })) = executed else {
                return executed;
            };
            // the fence names the version that moved the gene; a map newer than the route's
            // is needed at least, or the same route would meet the same fence
            let newer = map_version.max(routed_by + 1);
            tracing::info!(
                gene,
                fenced_by = map_version,
                routed_by,
                "a command met a gene's fence; waiting for the new shard map"
            );
            if !router.wait_for_version(newer, deadline).await {
                return Err(StoreError::Moved { gene, map_version }.into());
            }
        }
    }
}
