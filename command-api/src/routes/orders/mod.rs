//! Order routes: placing, and the buyer's and seller's updates.

pub(crate) mod place;
pub(crate) mod update;
