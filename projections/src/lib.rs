//! Read models of the order platform: order detail, buyer and seller views, stock and the cold
//! archive, each a projection of the event log with its checkpoint written in the same
//! transaction as its rows.
//!
//! The projections and their runner arrive with the read-side work; this crate holds their
//! place in the dependency chain `command-api -> projections -> event-store -> domain`.
#![warn(missing_docs)]
