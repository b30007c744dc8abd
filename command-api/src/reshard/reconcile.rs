//! Reconcile over every shard (ADR 42, 45): each shard's views against its log, the stock
//! invariant over all of them, and the seller views against the order views.

use std::sync::Arc;
use std::time::Duration;

use projections::ProjectionError;
use projections::sellers::SellerSide;
use shards::ShardRouter;

use super::{follower_at, reach};

/// Whether a shard answers for a stream (`aggregate_type`, `id`).
type OwnsFn = Box<dyn Fn(&str, &str) -> bool + Send + Sync>;

/// Reconciles every shard of `router` ([`projections::reconcile::reconcile_shards_when_caught_up`]),
/// each answering for the streams of the genes the map in force reads from it.
pub async fn reconcile_every_shard(
    router: &ShardRouter,
    wait: Duration,
    progress: &mut (dyn FnMut(projections::reconcile::Progress) + Send),
) -> Result<projections::reconcile::Report, ProjectionError> {
    let map = router.map();
    let owns: Vec<OwnsFn> = router
        .stores()
        .map(|(name, _)| {
            let (owner, map) = (name.clone(), Arc::clone(&map));
            Box::new(move |kind: &str, id: &str| {
                map.assignment(event_store::gene_of_stream(kind, id)).read == owner
            }) as OwnsFn
        })
        .collect();
    let shards: Vec<projections::reconcile::Shard<'_>> = router
        .stores()
        .zip(&owns)
        .map(|((name, store), owns)| projections::reconcile::Shard {
            name: name.to_string(),
            store,
            owns: owns.as_ref(),
        })
        .collect();
    let mut report =
        projections::reconcile::reconcile_shards_when_caught_up(&shards, wait, progress).await?;
    let keeps: Vec<KeepsFn> = router
        .stores()
        .map(|(name, _)| {
            let (owner, map) = (name.clone(), Arc::clone(&map));
            Box::new(move |gene: u16| map.assignment(gene).read == owner) as KeepsFn
        })
        .collect();
    let sides: Vec<SellerSide<'_>> = router
        .stores()
        .zip(owns.iter().zip(&keeps))
        .map(|((_, store), (owns, keeps))| SellerSide {
            db: store.db(),
            owns: owns.as_ref(),
            keeps_seller: keeps.as_ref(),
        })
        .collect();
    report
        .differences
        .extend(seller_differences(router, &sides, wait).await?);
    Ok(report)
}

/// Whether a shard's seller view answers for a seller gene.
type KeepsFn = Box<dyn Fn(u16) -> bool + Send + Sync>;

/// The seller views against the order views (ADR 45). A difference found while the `sellers`
/// followers copy is looked at again once every one has reached its log's head (waiting at
/// most `wait`): what is left is a difference.
async fn seller_differences(
    router: &ShardRouter,
    sides: &[SellerSide<'_>],
    wait: Duration,
) -> Result<Vec<projections::reconcile::Difference>, ProjectionError> {
    let first = projections::sellers::compare(sides).await?;
    if first.is_empty() {
        return Ok(first);
    }
    for (shard, store) in router.stores() {
        let head = store.head().await?;
        let reached = reach(
            head,
            wait,
            || follower_at(store, projections::sellers::SELLERS_NAME),
            &mut |_| {},
        )
        .await
        .map_err(|err| ProjectionError::Corrupt(err.to_string()))?;
        if let Err(at) = reached {
            // its differences stand, as a lagging order view's do
            tracing::warn!(%shard, position = at.position, head = head.position,
                "the sellers follower did not reach the head of the log in time");
        }
    }
    projections::sellers::compare(sides).await
}
