//! What the buyer and the seller do with a placed order: the buyer cancels an unpaid order,
//! confirms receipt and asks for refunds; the seller sets the tracking number and ships.
//!
//! Each runs at the version the caller last saw (`If-Match`): a stale version changes nothing
//! (check and append are one atomic step: the append is at that version). Acting on someone
//! else's order is `NotFound`, as for an id never issued.

use domain::{
    BuyerId, CancelOrder, CancelReason, ConfirmReceipt, Order, OrderCommand, OrderError, OrderId,
    RefundId, RefundItem, RequestRefund, SellerId, ShipOrder, TrackingNumber, UpdateLogistics,
};
use event_store::{EventMetadata, ExecuteError, Executed};
use ids::SegmentAllocator;
use shards::Stores;

use super::Clock;

/// Who acts on an order.
#[derive(Debug, Clone)]
pub enum Party {
    /// The order's buyer.
    Buyer(BuyerId),
    /// The order's seller.
    Seller(SellerId),
}

impl Party {
    fn owns(&self, order: &Order) -> bool {
        match self {
            Self::Buyer(buyer) => order.buyer() == Some(buyer),
            Self::Seller(seller) => order.seller() == Some(seller),
        }
    }
}

/// What to do with the order.
#[derive(Debug, Clone)]
pub enum Update {
    /// The buyer cancels an unpaid order; its stock is released.
    Cancel,
    /// The seller sets or changes the tracking number.
    Logistics(TrackingNumber),
    /// The seller ships a paid order, with the tracking number unless it was set before.
    Ship(Option<TrackingNumber>),
    /// The buyer confirms receipt of a shipped order.
    ConfirmReceipt,
    /// The buyer asks for a refund of these lines' units.
    Refund(Vec<RefundItem>),
}

/// Why an update was not made.
#[derive(Debug, thiserror::Error)]
pub enum FulfilmentError {
    /// The caller expected another version.
    #[error("the order is at version {current}")]
    VersionMismatch {
        /// The current version.
        current: u64,
    },
    /// No refund number could be issued right now.
    #[error("refund numbers cannot be issued right now")]
    NoRefundNumber,
    /// Execution failed: the order refused, contention or the store.
    #[error(transparent)]
    Execute(ExecuteError<OrderError>),
}

impl From<ExecuteError<OrderError>> for FulfilmentError {
    fn from(err: ExecuteError<OrderError>) -> Self {
        match err {
            ExecuteError::VersionMismatch { current } => Self::VersionMismatch { current },
            other => Self::Execute(other),
        }
    }
}

impl From<event_store::StoreError> for FulfilmentError {
    fn from(err: event_store::StoreError) -> Self {
        Self::Execute(ExecuteError::Store(err))
    }
}

/// The fulfilment use cases.
#[derive(Clone, Debug)]
pub struct Fulfilment {
    store: Stores,
    clock: Clock,
    refund_numbers: SegmentAllocator,
}

impl Fulfilment {
    /// Fulfilment over `store`, numbering refunds with `refund_numbers`.
    pub fn new(store: Stores, clock: Clock, refund_numbers: SegmentAllocator) -> Self {
        Self {
            store,
            clock,
            refund_numbers,
        }
    }

    /// Runs `update` on `party`'s order `order_id` at version `expected`. `idempotency_key`
    /// makes a refund request's retry answer the first result.
    pub async fn update(
        &self,
        party: &Party,
        order_id: OrderId,
        expected: u64,
        update: Update,
        idempotency_key: Option<&str>,
        meta: &EventMetadata,
    ) -> Result<Executed<Order>, FulfilmentError> {
        let id = order_id.to_string();
        // Ownership first: a stale version of someone else's order must not reveal that it
        // exists (who owns an order never changes, so this read cannot go stale).
        if !party.owns(&self.store.load::<Order>(&id).await?.aggregate) {
            return Err(ExecuteError::Domain(OrderError::NotFound).into());
        }
        let at = self.clock.now();
        let mut dedup_key = None;
        let mut request_digest = None;
        let command = match update {
            Update::Cancel => OrderCommand::CancelOrder(CancelOrder {
                reason: CancelReason::BuyerCancelled,
                at,
            }),
            Update::Logistics(tracking_number) => OrderCommand::UpdateLogistics(UpdateLogistics {
                tracking_number,
                at,
            }),
            Update::Ship(tracking_number) => OrderCommand::ShipOrder(ShipOrder {
                tracking_number,
                at,
            }),
            Update::ConfirmReceipt => OrderCommand::ConfirmReceipt(ConfirmReceipt { at }),
            Update::Refund(items) => {
                dedup_key = idempotency_key.map(|key| format!("refund:{key}"));
                request_digest = idempotency_key.map(|_| {
                    let lines: Vec<_> = items.iter().map(|i| (i.line, i.quantity.get())).collect();
                    super::request_digest("refund", &lines)
                });
                OrderCommand::RequestRefund(RequestRefund {
                    refund_id: self.refund_id().await?,
                    items,
                    at,
                })
            }
        };
        let meta = EventMetadata {
            dedup_key,
            request_digest,
            ..meta.clone()
        };
        Ok(self
            .store
            .execute::<Order, _>(&id, Some(expected), &meta, |order| {
                order.decide(command.clone())
            })
            .await?)
    }

    async fn refund_id(&self) -> Result<RefundId, FulfilmentError> {
        let number = self.refund_numbers.next().await.map_err(|err| {
            tracing::warn!(error = %err, "refund number refused");
            FulfilmentError::NoRefundNumber
        })?;
        RefundId::parse(&format!("R{number}")).map_err(|err| {
            tracing::error!(error = %err, "a refund number makes no refund id");
            FulfilmentError::NoRefundNumber
        })
    }
}
