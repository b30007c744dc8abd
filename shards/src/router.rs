//! Routing (ADR 42): the shard, and so the event store, a stream is written to and read from,
//! by its gene ([`event_store::gene_of_stream`]) under the map in force on this node.
//!
//! The router reads the map afresh for every route, so a new version is used from the moment
//! the node follows it. A route taken from an older version can still reach the old shard; the
//! fences there ([`event_store::EventStore::fence_gene`]) refuse its appends with
//! [`event_store::StoreError::Moved`], and the caller routes again.

use std::collections::BTreeMap;
use std::sync::Arc;

use event_store::{Db, EventStore, Key, Routes, StoreError, gene_of_stream};
use tokio::sync::watch;

use crate::map::{Assignment, ShardMap, ShardName};

/// Why a stream has no store to go to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// The map gives the stream's gene to a shard that configuration does not name: no node
    /// with this configuration can reach it.
    #[error(
        "shard map version {map_version} puts gene {gene} on shard {shard}, which is not \
         configured (--shard {shard}=URL)"
    )]
    UnknownShard {
        /// The shard the map names.
        shard: ShardName,
        /// The stream's gene.
        gene: u16,
        /// The map version that names it.
        map_version: u64,
    },
}

/// Why the router could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("cannot open the event store of shard {shard}")]
pub struct ConnectError {
    /// The shard.
    pub shard: ShardName,
    /// Why.
    #[source]
    pub source: StoreError,
}

/// Where one stream goes: its gene, the shard and that shard's store, under one map version.
#[derive(Debug, Clone)]
pub struct Route {
    /// The stream's gene.
    pub gene: u16,
    /// The shard.
    pub shard: ShardName,
    /// The shard's event store.
    pub store: EventStore,
    /// The map version the route was read from.
    pub map_version: u64,
}

/// One event store per configured shard, and the map in force that chooses among them.
#[derive(Debug, Clone)]
pub struct ShardRouter {
    map: watch::Receiver<Arc<ShardMap>>,
    stores: Arc<BTreeMap<ShardName, EventStore>>,
}

impl ShardRouter {
    /// A router over `stores` (the default shard's among them), following `map` (from
    /// [`crate::FollowedMap::subscribe`]).
    pub fn new(
        map: watch::Receiver<Arc<ShardMap>>,
        stores: BTreeMap<ShardName, EventStore>,
    ) -> Self {
        Self {
            map,
            stores: Arc::new(stores),
        }
    }

    /// A router over `default` (the store of `database_url`) and a store opened now for each
    /// of `shards` (name and PostgreSQL URL), each with a pool of at most
    /// `postgres_max_connections`. Fails naming the first shard that cannot be opened.
    pub async fn connect<'a>(
        map: watch::Receiver<Arc<ShardMap>>,
        default: EventStore,
        shards: impl IntoIterator<Item = (&'a ShardName, &'a str)>,
        postgres_max_connections: u32,
    ) -> Result<Self, ConnectError> {
        let mut stores = BTreeMap::from([(ShardName::default_shard(), default)]);
        for (shard, url) in shards {
            let store = EventStore::connect_with_pool(url, postgres_max_connections)
                .await
                .map_err(|source| ConnectError {
                    shard: shard.clone(),
                    source,
                })?;
            stores.insert(shard.clone(), store);
        }
        Ok(Self::new(map, stores))
    }

    /// Where the stream `aggregate_type`/`aggregate_id` is appended to now.
    pub fn writes_for(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
    ) -> Result<Route, RouteError> {
        self.route(aggregate_type, aggregate_id, |a| &a.write)
    }

    /// Where the stream `aggregate_type`/`aggregate_id` is read from now.
    pub fn reads_for(&self, aggregate_type: &str, aggregate_id: &str) -> Result<Route, RouteError> {
        self.route(aggregate_type, aggregate_id, |a| &a.read)
    }

    /// The store that `aggregate_type`/`aggregate_id` is appended to now, with the map
    /// version it was read from: the command path's route, borrowed (nothing allocated).
    pub fn write_store(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
    ) -> Result<(&EventStore, u64), StoreError> {
        self.store_of(aggregate_type, aggregate_id, |a| &a.write)
    }

    /// The store that `aggregate_type`/`aggregate_id` is read from now, with the map version
    /// it was read from, borrowed.
    pub fn read_store(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
    ) -> Result<(&EventStore, u64), StoreError> {
        self.store_of(aggregate_type, aggregate_id, |a| &a.read)
    }

    /// Waits until the map in force is at `version` or newer, at most until `deadline`;
    /// whether it got there.
    pub async fn wait_for_version(&self, version: u64, deadline: tokio::time::Instant) -> bool {
        let mut map = self.map.clone();
        let reached = tokio::time::timeout_at(deadline, async {
            map.wait_for(|map| map.version() >= version).await.is_ok()
        })
        .await;
        reached.unwrap_or(false)
    }

    /// A handle on the default shard's database whose keys ([`event_store::Key`]) route to
    /// the database their gene is read from under the map in force ([`Db::routed`]): the
    /// read models' queries, the payment deadlines of an order.
    pub fn routed_db(&self) -> Option<Db> {
        let default = self.stores.get(&ShardName::default_shard())?.db();
        let dbs = self
            .stores
            .iter()
            .map(|(shard, store)| (shard.clone(), store.db()))
            .collect();
        let routes = ShardDbs {
            map: self.map.clone(),
            dbs,
            default: default.clone(),
        };
        Some(default.routed(Arc::new(routes)))
    }

    /// The store of `shard`, when configured.
    pub fn store(&self, shard: &ShardName) -> Option<&EventStore> {
        self.stores.get(shard)
    }

    /// Every configured shard with its store, in name order (for work that runs on each:
    /// followers, the relay, reconcile).
    pub fn stores(&self) -> impl Iterator<Item = (&ShardName, &EventStore)> {
        self.stores.iter()
    }

    /// The map in force now.
    pub fn map(&self) -> Arc<ShardMap> {
        Arc::clone(&self.map.borrow())
    }

    /// The shards the map in force names that have no store here.
    pub fn unconfigured(&self) -> Vec<ShardName> {
        self.map()
            .shards()
            .into_iter()
            .filter(|shard| !self.stores.contains_key(*shard))
            .cloned()
            .collect()
    }

    fn store_of(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
        side: impl Fn(&Assignment) -> &ShardName,
    ) -> Result<(&EventStore, u64), StoreError> {
        let gene = gene_of_stream(aggregate_type, aggregate_id);
        let map = self.map.borrow();
        let shard = side(map.assignment(gene));
        match self.stores.get(shard) {
            Some(store) => Ok((store, map.version())),
            None => Err(StoreError::UnknownShard {
                shard: shard.to_string(),
                gene,
                map_version: map.version(),
            }),
        }
    }

    fn route(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
        side: impl Fn(&Assignment) -> &ShardName,
    ) -> Result<Route, RouteError> {
        let gene = gene_of_stream(aggregate_type, aggregate_id);
        let map = self.map();
        let shard = side(map.assignment(gene));
        match self.stores.get(shard) {
            Some(store) => Ok(Route {
                gene,
                shard: shard.clone(),
                store: store.clone(),
                map_version: map.version(),
            }),
            None => Err(RouteError::UnknownShard {
                shard: shard.clone(),
                gene,
                map_version: map.version(),
            }),
        }
    }
}

/// Each shard's database, for keys routed by the gene they are read from.
#[derive(Debug)]
struct ShardDbs {
    map: watch::Receiver<Arc<ShardMap>>,
    dbs: BTreeMap<ShardName, Db>,
    default: Db,
}

impl Routes for ShardDbs {
    fn route(&self, key: Key<'_>) -> &Db {
        let gene = key.gene();
        let map = self.map.borrow();
        let shard = &map.assignment(gene).read;
        // a shard that is not configured is refused at start and by every command routed to
        // it; its rows cannot be here, and the default shard answers that it has none
        self.dbs.get(shard).unwrap_or(&self.default)
    }

    fn every(&self) -> Vec<&Db> {
        self.dbs.values().collect()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use sqlx::postgres::PgPoolOptions;

    use super::*;
    use crate::map::GeneRange;

    fn name(text: &str) -> ShardName {
        text.parse().unwrap()
    }

    /// A store whose pool never connects: routing never touches the database.
    fn unconnected() -> EventStore {
        EventStore::postgres(
            PgPoolOptions::new()
                .connect_lazy("postgres://nobody@127.0.0.1:1/none")
                .unwrap(),
        )
    }

    fn range(genes: std::ops::RangeInclusive<u16>, read: &str, write: &str) -> GeneRange {
        GeneRange {
            genes,
            assignment: Assignment {
                read: name(read),
                write: name(write),
            },
        }
    }

    /// Three shards a third each, and a router over `configured` of them.
    fn router(configured: &[&str]) -> (watch::Sender<Arc<ShardMap>>, ShardRouter) {
        let map = ShardMap::from_ranges(
            2,
            &[
                range(0..=340, "default", "default"),
                range(341..=681, "s2", "s2"),
                range(682..=1023, "s3", "s3"),
            ],
        )
        .unwrap();
        let (sender, receiver) = watch::channel(Arc::new(map));
        let stores = configured
            .iter()
            .map(|s| (name(s), unconnected()))
            .collect();
        (sender, ShardRouter::new(receiver, stores))
    }

    fn shard_of(route: Result<Route, RouteError>) -> String {
        route.unwrap().shard.to_string()
    }

    #[tokio::test]
    async fn orders_carts_and_skus_go_to_the_shard_of_their_gene() {
        let (_map, router) = router(&["default", "s2", "s3"]);
        // an order by the gene its id carries (5), a cart by its buyer's (514), a SKU by its
        // id's hash (823)
        assert_eq!(shard_of(router.writes_for("Order", "1029")), "default");
        assert_eq!(shard_of(router.writes_for("Cart", "b-42")), "s2");
        let sku = router.writes_for("Sku", "buyer-2").unwrap();
        assert_eq!(
            (sku.gene, sku.shard.as_str(), sku.map_version),
            (823, "s3", 2)
        );
        assert_eq!(shard_of(router.reads_for("Sku", "buyer-2")), "s3");
        assert!(router.unconfigured().is_empty());
    }

    /// Between a move's third and fourth steps the gene is read from the new shard and still
    /// written to the old one; a new version is used as soon as it is followed.
    #[tokio::test]
    async fn reads_and_writes_follow_the_map_in_force() {
        let (map, router) = router(&["default", "s2", "s3"]);
        let moving = router.map().with_reads_on(0..=340, &name("s3")).unwrap();
        map.send_replace(Arc::new(moving));
        assert_eq!(shard_of(router.reads_for("Order", "1029")), "s3");
        assert_eq!(shard_of(router.writes_for("Order", "1029")), "default");
        let moved = router.map().with_writes_on(0..=340, &name("s3")).unwrap();
        map.send_replace(Arc::new(moved));
        let route = router.writes_for("Order", "1029").unwrap();
        assert_eq!((route.shard.as_str(), route.map_version), ("s3", 4));
    }

    #[tokio::test]
    async fn a_shard_the_map_names_without_a_store_is_an_error() {
        let (_map, router) = router(&["default", "s2"]);
        assert_eq!(
            router.writes_for("Sku", "buyer-2").err(),
            Some(RouteError::UnknownShard {
                shard: name("s3"),
                gene: 823,
                map_version: 2
            })
        );
        assert_eq!(shard_of(router.writes_for("Cart", "b-42")), "s2");
        assert_eq!(router.unconfigured(), [name("s3")]);
    }
}
