//! Payment notification: the provider reports money received for an order.

use domain::{ConfirmPayment, Money, Order, OrderCommand, OrderError, OrderId, TxnId};
use event_store::{Db, EventMetadata, ExecuteError, Executed, StoreError};
use shards::Stores;

use super::Clock;

const CLAIM_TXN: &str = include_str!("sql/claim_txn.sql");

/// Why a payment notification was not recorded.
#[derive(Debug, thiserror::Error)]
pub enum PaymentError {
    /// The transaction paid another order: a transaction id belongs to one order.
    #[error("the transaction {txn_id} paid another order")]
    TxnOfAnotherOrder {
        /// The transaction.
        txn_id: TxnId,
    },
    /// The order refused it, or the store failed.
    #[error(transparent)]
    Order(#[from] ExecuteError<OrderError>),
}

impl From<StoreError> for PaymentError {
    fn from(err: StoreError) -> Self {
        Self::Order(ExecuteError::Store(err))
    }
}

/// The payment use cases.
#[derive(Clone, Debug)]
pub struct Payments {
    store: Stores,
    clock: Clock,
}

impl Payments {
    /// Payments over `store`.
    pub fn new(store: Stores, clock: Clock) -> Self {
        Self { store, clock }
    }

    /// Records that `amount` was received for `order_id` in the provider's transaction
    /// `txn_id`, the notification's idempotency key: the same transaction again records
    /// nothing and answers the order; a transaction that paid another order is refused and
    /// records nothing; a wrong amount is refused; a payment for a cancelled order, or a
    /// second one for a paid order, is recorded as paid after close (and refunded by a
    /// reaction).
    pub async fn notify(
        &self,
        order_id: OrderId,
        txn_id: TxnId,
        amount: Money,
        meta: &EventMetadata,
    ) -> Result<Executed<Order>, PaymentError> {
        let id = order_id.to_string();
        // a transaction pays one order of any shard: its claims are kept in one database,
        // the default shard's (the catalog), not the order's
        let db = self.store.default_store().db();
        if claim_txn(&db, &txn_id, &id).await? != id {
            return Err(PaymentError::TxnOfAnotherOrder { txn_id });
        }
        let meta = EventMetadata {
            dedup_key: Some(format!("txn:{txn_id}")),
            ..meta.clone()
        };
        let command = ConfirmPayment {
            txn_id,
            amount,
            at: self.clock.now(),
        };
        Ok(self
            .store
            .execute::<Order, _>(&id, None, &meta, |o| {
                o.decide(OrderCommand::ConfirmPayment(command.clone()))
            })
            .await?)
    }
}

/// Claims `txn_id` for `order_id` unless it was claimed before; answers the order it belongs
/// to. A claim whose payment was then refused (a wrong amount) stays: the transaction is that
/// order's all the same.
async fn claim_txn(db: &Db, txn_id: &TxnId, order_id: &str) -> Result<String, StoreError> {
    let row = db
        .query(CLAIM_TXN)
        .bind(txn_id.as_str())
        .bind(order_id)
        .fetch_one(db)
        .await?;
    Ok(row.try_get(0)?)
}
