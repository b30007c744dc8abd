//! What every request handler shares.

use event_store::EventStore;

use crate::config::Settings;

/// Shared application state.
#[derive(Debug)]
pub struct AppState {
    /// The event log.
    pub store: EventStore,
    /// The configuration the server started with.
    pub settings: Settings,
}
