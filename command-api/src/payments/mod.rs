//! Payments and time: the payment provider behind a [`gateway::PaymentGateway`] trait with a
//! built-in [`simulator`], durable payment [`deadlines`] fired by a [`timer`] and a sweeper,
//! the [`reactions`] that open and close trades and pay refunds out, and the [`signature`] of
//! the provider's callbacks.
//!
//! See docs/adr/0020-payment-deadlines.md for why deadlines live in their own table, kept
//! from the log.

pub mod deadlines;
pub mod gateway;
pub mod reactions;
pub mod signature;
pub mod simulator;
pub(crate) mod simulator_route;
pub mod timer;

pub use deadlines::{ClaimedDeadline, DeadlineStore, NewDeadline};
pub use gateway::{NoProvider, PaymentGateway, TradeStatus};
pub use simulator::{CallbackFaults, Simulator};
pub use timer::{DeadlineFirer, Outcome};

#[cfg(test)]
mod timer_tests;
