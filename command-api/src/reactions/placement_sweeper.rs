//! The abandoned-placement sweeper (ADR 32, the sweeper ADR 5 asked for): a reservation that
//! no placed order holds and that is older than `abandoned_placement_secs` belongs to a
//! placement that stopped half-way (its process died, its client gave up). The sweeper first
//! claims the order id with `PlacementRejected` (reason `Abandoned`), so that a late placement
//! can no longer become an order relying on those units, then releases them.
//!
//! It finds such reservations in [`OpenReservations`] by age (an index), never in the log: a
//! round reads the few rows past the bound, not the history. A flash-sale placement's unit in
//! its campaign's bucket and its claim on the buyer's limit are such rows too (ADR 38), and
//! come back the same way. An id that turns out to be placed
//! keeps the reservations on its items (they are the order's, and its payment or cancellation
//! ends them); any other reservation of it was made by a repeat that lost (ADR 14) and is
//! released. Time is passed in ([`PlacementSweeper::sweep`] takes `now`), so tests advance it.
//! Several sweepers may run at once: the rejection and the releases are idempotent.

use std::time::Duration;

use chrono::{DateTime, Utc};
use domain::{
    AbandonPlacement, Order, OrderCommand, OrderError, OrderId, bucket_stream_id, buyer_stream_id,
};
use event_store::{Db, EventMetadata};
use futures::{StreamExt, TryStreamExt};
use shards::Stores;
use tokio_util::sync::CancellationToken;

use super::open_reservations::{Holder, OpenReservation, OpenReservations};
use super::placement::release;
use event_store::ExecuteError;

type SweepError = Box<dyn std::error::Error + Send + Sync>;

/// How often the server's sweeper runs a round.
pub const PLACEMENT_SWEEP_INTERVAL_SECS: u64 = 30;
/// Order ids one round settles at most (the rest wait for the next round).
pub const SWEEP_ORDERS_MAX: usize = 500;
/// Order ids settled at once within a round.
const SWEEP_ORDERS_AT_ONCE_MAX: usize = 16;
const ACTOR: &str = "system:placement-sweeper";

/// What one round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Swept {
    /// Order ids this round claimed with a rejection.
    pub abandoned: usize,
    /// Reservations this round released.
    pub released: usize,
}

/// Releases the reservations of placements abandoned for longer than its bound.
#[derive(Debug, Clone)]
pub struct PlacementSweeper {
    store: Stores,
    open: OpenReservations,
    abandoned_after: chrono::Duration,
}

impl PlacementSweeper {
    /// A sweeper of the open reservations in `local`'s database (the shard it runs for) older
    /// than `abandoned_after`, settling them through `store`.
    pub fn new(store: Stores, local: Db, abandoned_after: Duration) -> Self {
        Self {
            open: OpenReservations::new(local),
            store,
            abandoned_after: chrono::Duration::from_std(abandoned_after)
                .unwrap_or(chrono::Duration::MAX),
        }
    }

    /// One round at `now`: settles up to [`SWEEP_ORDERS_MAX`] order ids holding a reservation
    /// made before `now` minus the bound, oldest first.
    pub async fn sweep(&self, now: DateTime<Utc>) -> Result<Swept, SweepError> {
        let before_ms = now
            .checked_sub_signed(self.abandoned_after)
            .map_or(i64::MIN, |t| t.timestamp_millis());
        let ids = self.open.stale_orders(before_ms, SWEEP_ORDERS_MAX).await?;
        futures::stream::iter(ids)
            .map(|id| async move { self.settle(&id, now).await })
            .buffer_unordered(SWEEP_ORDERS_AT_ONCE_MAX)
            .try_fold(Swept::default(), |total, one| async move {
                Ok(Swept {
                    abandoned: total.abandoned + one.abandoned,
                    released: total.released + one.released,
                })
            })
            .await
    }

    /// Claims `id` unless it is an order, then releases what it holds that no order holds.
    async fn settle(&self, id: &str, now: DateTime<Utc>) -> Result<Swept, SweepError> {
        let order_id: OrderId = id
            .parse()
            .map_err(|err| format!("an open reservation names the order id {id:?}: {err}"))?;
        let meta = EventMetadata {
            dedup_key: Some(format!("abandon:{id}")),
            actor: Some(ACTOR.to_owned()),
            ..EventMetadata::default()
        };
        let command = AbandonPlacement { order_id, at: now };
        let claimed = self
            .store
            .execute::<Order, _>(id, None, &meta, |order| {
                order.decide(OrderCommand::AbandonPlacement(command.clone()))
            })
            .await;
        let held = self.open.of_orders(&[id.to_owned()]).await?;
        let (abandoned, to_release, kept): (_, Vec<_>, Vec<_>) = match claimed {
            // rejected now or before: none of its reservations is an order's
            Ok(executed) => (executed.appended > 0, held, Vec::new()),
            Err(ExecuteError::Domain(OrderError::AlreadyPlaced)) => {
                let order = self.store.load::<Order>(id).await?.aggregate;
                let (kept, surplus) = held.into_iter().partition(|row| held_by(&order, row));
                (false, surplus, kept)
            }
            Err(other) => return Err(Box::new(other)),
        };
        let mut released = 0;
        for held in &to_release {
            released += release(&self.store, held, ACTOR, None, now).await?;
        }
        // the reaction removes them too when it reads the releases; removed now, the next
        // round does not settle them again however far behind it is
        let rows = to_release.iter().chain(&kept);
        let pairs: Vec<(String, String)> = rows
            .map(|row| (row.order_id.clone(), row.stream_id.clone()))
            .collect();
        self.open.remove(&pairs).await?;
        if abandoned || released > 0 {
            tracing::warn!(
                order_id = id,
                released,
                "released the stock of an abandoned placement"
            );
        }
        Ok(Swept {
            abandoned: usize::from(abandoned),
            released,
        })
    }
}

/// Whether placed `order` holds `row`: a reservation on one of its items' SKUs, or, in a
/// campaign, its unit in the bucket it names and its buyer's claim.
fn held_by(order: &Order, row: &OpenReservation) -> bool {
    let stream = row.stream_id.as_str();
    match row.holder {
        Holder::Sku => order.items().iter().any(|item| item.sku.as_str() == stream),
        Holder::CampaignBucket => order
            .campaign()
            .is_some_and(|line| bucket_stream_id(&line.campaign_id, line.bucket) == stream),
        Holder::CampaignBuyer => order
            .campaign()
            .zip(order.buyer())
            .is_some_and(|(line, buyer)| buyer_stream_id(&line.campaign_id, buyer) == stream),
    }
}

/// Runs a round every `interval` until `shutdown`, at the system clock's time.
pub async fn run(sweeper: PlacementSweeper, interval: Duration, shutdown: CancellationToken) {
    tracing::info!(
        interval_secs = interval.as_secs(),
        abandoned_after_secs = sweeper.abandoned_after.num_seconds(),
        "abandoned-placement sweeper started"
    );
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(interval) => {}
        }
        match sweeper.sweep(Utc::now()).await {
            Ok(Swept {
                abandoned: 0,
                released: 0,
            }) => {}
            Ok(swept) => tracing::warn!(
                abandoned = swept.abandoned,
                released = swept.released,
                "the sweeper released the stock of abandoned placements"
            ),
            Err(err) => tracing::warn!(error = %err, "the placement sweeper's round failed"),
        }
    }
}
