//! Pure business logic of the order platform: aggregates, commands, events and value types.
//!
//! Nothing here performs I/O, reads a clock or generates an id: time and ids arrive in the
//! commands, so every decision is a pure function of state and command.
#![warn(missing_docs)]
