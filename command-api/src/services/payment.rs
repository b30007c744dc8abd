//! Payment notification: the provider reports money received for an order.

use domain::{ConfirmPayment, Money, Order, OrderCommand, OrderError, OrderId, TxnId};
use event_store::{EventMetadata, EventStore, ExecuteError, Executed};

use super::Clock;

/// The payment use cases.
#[derive(Clone, Debug)]
pub struct Payments {
    store: EventStore,
    clock: Clock,
}

impl Payments {
    /// Payments over `store`.
    pub fn new(store: EventStore, clock: Clock) -> Self {
        Self { store, clock }
    }

    /// Records that `amount` was received for `order_id` in the provider's transaction
    /// `txn_id`, the notification's idempotency key: the same transaction again records
    /// nothing and answers the order; a wrong amount is refused; a payment for a cancelled
    /// order is recorded as paid after close (and refunded by a reaction).
    pub async fn notify(
        &self,
        order_id: OrderId,
        txn_id: TxnId,
        amount: Money,
        meta: &EventMetadata,
    ) -> Result<Executed<Order>, ExecuteError<OrderError>> {
        let meta = EventMetadata {
            dedup_key: Some(format!("txn:{txn_id}")),
            ..meta.clone()
        };
        let command = ConfirmPayment {
            txn_id,
            amount,
            at: self.clock.now(),
        };
        event_store::execute::<Order, _>(&self.store, &order_id.to_string(), None, &meta, |o| {
            o.decide(OrderCommand::ConfirmPayment(command.clone()))
        })
        .await
    }
}
