//! The event log.
#![warn(missing_docs)]
