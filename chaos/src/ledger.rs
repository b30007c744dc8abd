//! What the server acknowledged: every placement and every payment notification it answered
//! with a 2xx. The server promised these; the checks hold it to them.

use std::sync::{Mutex, PoisonError};

/// An order the server acknowledged as placed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlacedOrder {
    /// The order id the checkout handed out.
    pub order_id: String,
    /// The buyer who placed it.
    pub buyer: String,
    /// The lines as `(sku, quantity)`.
    pub items: Vec<(String, u32)>,
    /// What the placement answered as the order's total.
    pub total_cents: i64,
}

/// A payment notification the server acknowledged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckedPayment {
    /// The order paid for.
    pub order_id: String,
    /// The provider's transaction id.
    pub txn_id: String,
    /// The amount notified.
    pub amount_cents: i64,
}

/// Everything acknowledged so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Entries {
    /// Orders acknowledged as placed, in the order of their acknowledgements.
    pub orders: Vec<PlacedOrder>,
    /// Payments acknowledged, in the order of their acknowledgements.
    pub payments: Vec<AckedPayment>,
}

impl Entries {
    /// Acknowledged orders that no acknowledged payment paid: their deadlines must fire.
    pub fn unpaid(&self) -> usize {
        self.orders
            .iter()
            .filter(|o| !self.payments.iter().any(|p| p.order_id == o.order_id))
            .count()
    }
}

/// The ledger the load clients share. Records only: what to make of it is [`crate::check`]'s.
#[derive(Debug, Default)]
pub struct Ledger {
    entries: Mutex<Entries>,
}

impl Ledger {
    /// Records an acknowledged placement.
    pub fn placed(&self, order: PlacedOrder) {
        self.lock().orders.push(order);
    }

    /// Records an acknowledged payment.
    pub fn paid(&self, payment: AckedPayment) {
        self.lock().payments.push(payment);
    }

    /// A copy of everything recorded so far.
    pub fn entries(&self) -> Entries {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        // a client that panicked mid-push left a whole entry or none: the data is still good
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
