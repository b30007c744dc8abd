//! Order routes: placing, reading, and the buyer's and seller's updates.

pub(crate) mod get;
pub(crate) mod place;
pub(crate) mod update;
