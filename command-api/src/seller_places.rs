//! Where sellers' rows are kept on several shards (ADR 45): the shard each seller gene is read
//! from under the map in force, and both ends of every move of the gene not cleaned up yet,
//! the moves read afresh each time (one small query on the catalog per batch of the `sellers`
//! followers), so that a move's target gets every copy from the batch after the move began.

use std::sync::Arc;

use projections::ProjectionError;
use projections::sellers::{Places, PlacesFuture, SellerPlaces};
use shards::{JobError, Jobs, ShardRouter, Stores};

/// The places of the shards of a router, with the moves of the catalog's jobs.
#[derive(Debug, Clone)]
pub struct RouterPlaces {
    router: ShardRouter,
    jobs: Jobs,
}

impl RouterPlaces {
    /// The places of `stores`' shards, under its router's map and with the moves in its
    /// catalog (the default database); `None` without shards.
    pub fn of(stores: &Stores) -> Option<Arc<Self>> {
        let router = stores.router()?.clone();
        let jobs = Jobs::new(stores.default_store().postgres_pool()?.clone());
        Some(Arc::new(Self { router, jobs }))
    }

    async fn now(&self) -> Result<Places, ProjectionError> {
        let moves = self.jobs.uncleaned().await.map_err(|err| match err {
            JobError::Database(err) => ProjectionError::Database(err),
            other => ProjectionError::Corrupt(other.to_string()),
        })?;
        let map = self.router.map();
        let mut places = Places::new();
        for (shard, store) in self.router.stores() {
            places.keep(store.db(), |gene| {
                map.assignment(gene).read == *shard
                    || moves.iter().any(|job| {
                        job.genes.contains(&gene) && (job.source == *shard || job.target == *shard)
                    })
            });
        }
        Ok(places)
    }
}

impl SellerPlaces for RouterPlaces {
    fn places(&self) -> PlacesFuture<'_> {
        Box::pin(self.now())
    }
}
