//! Graceful shutdown: what happens between SIGTERM and the process's exit.
//!
//! 1. The listener stops accepting connections.
//! 2. The server drains: every request in flight is finished, and every response from now on
//!    closes its keep-alive connection, so a client with a busy connection moves elsewhere
//!    instead of keeping the server serving until the grace period ends.
//! 3. The background work (followers of the log, timers, sweepers) stops at its next batch.
//! 4. The order-id worker lease is given back.
//! 5. The idle connections left are closed and the HTTP workers end.
//!
//! All of it runs within the grace period ([`Settings::shutdown_grace_secs`]): whatever has not
//! finished by then is cut, as a kill would cut it, and the process exits. The HTTP workers go
//! last because they run their own runtimes: a database connection one of them opened stops
//! working when it ends, so nothing may use the pool after them.
//!
//! [`Settings::shutdown_grace_secs`]: crate::config::Settings::shutdown_grace_secs

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use actix_web::dev::ServerHandle;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::state::AppState;

/// Of the grace period, the part kept for stopping the background work and giving the lease
/// back after the requests in flight (which get the rest).
pub const SHUTDOWN_AFTER_DRAIN_RESERVE_MS: u64 = 2_000;

/// Requests in flight, and whether the server is draining.
#[derive(Debug, Default)]
pub struct Drain {
    draining: AtomicBool,
    in_flight: AtomicUsize,
    idle: Notify,
}

impl Drain {
    /// A request started; it counts as in flight until the guard is dropped.
    pub fn track(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        InFlight(Arc::clone(self))
    }

    /// From now on, responses close their connection.
    pub fn begin(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    /// Whether the server is draining.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    /// Requests in flight now.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }

    /// Waits until no request is in flight, or the deadline; answers whether none is.
    pub async fn wait_idle(&self, deadline: Instant) -> bool {
        loop {
            let idle = self.idle.notified();
            if self.in_flight() == 0 {
                return true;
            }
            if tokio::time::timeout_at(deadline, idle).await.is_err() {
                return self.in_flight() == 0;
            }
        }
    }
}

/// One request in flight (see [`Drain::track`]).
#[derive(Debug)]
pub struct InFlight(Arc<Drain>);

impl Drop for InFlight {
    fn drop(&mut self) {
        if self.0.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

/// Asks a running [`Application`](crate::startup::Application) to stop gracefully (what
/// SIGTERM does); cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct StopHandle(CancellationToken);

impl StopHandle {
    /// Starts the graceful shutdown; the application's `run_until_stopped` returns when it is
    /// done. Asking twice changes nothing.
    pub fn stop(&self) {
        self.0.cancel();
    }

    /// Resolves once a stop was asked for.
    pub async fn requested(&self) {
        self.0.cancelled().await;
    }
}

/// The deadlines of one graceful shutdown, from its start.
#[derive(Debug, Clone, Copy)]
pub struct Deadlines {
    /// Requests in flight get until here.
    pub drain: Instant,
    /// Everything ends by here.
    pub exit: Instant,
}

impl Deadlines {
    /// The deadlines of a shutdown starting now with `grace`.
    pub fn from_now(grace: Duration) -> Self {
        let now = Instant::now();
        let reserve = Duration::from_millis(SHUTDOWN_AFTER_DRAIN_RESERVE_MS).min(grace / 2);
        Self {
            drain: now + (grace - reserve),
            exit: now + grace,
        }
    }
}

/// The graceful shutdown's steps, in [`crate::shutdown`]'s order.
pub(crate) async fn stop_gracefully(
    handle: ServerHandle,
    running: JoinHandle<std::io::Result<()>>,
    drain: &Drain,
    deadlines: Deadlines,
    (shutdown, workers): (CancellationToken, Vec<JoinHandle<()>>),
    state: &AppState,
) -> std::io::Result<()> {
    tracing::info!(
        in_flight = drain.in_flight(),
        "stopping: no new connections; finishing the requests in flight"
    );
    handle.pause().await;
    drain.begin();
    if !drain.wait_idle(deadlines.drain).await {
        tracing::warn!(
            in_flight = drain.in_flight(),
            "requests still in flight at the end of the grace period are cut"
        );
    }
    shutdown.cancel();
    for worker in workers {
        let abort = worker.abort_handle();
        match tokio::time::timeout_at(deadlines.exit, worker).await {
            Ok(Ok(())) => {}
            Ok(Err(err)) if err.is_cancelled() => {}
            Ok(Err(err)) => tracing::error!(error = %err, "a worker failed"),
            Err(_) => {
                tracing::warn!("a worker did not stop within the grace period: cut");
                abort.abort();
            }
        }
    }
    match tokio::time::timeout_at(deadlines.exit, state.order_ids.shutdown()).await {
        Ok(Ok(())) => {}
        Ok(Err(err)) => tracing::warn!(error = %err, "releasing the order-id lease failed"),
        Err(_) => tracing::warn!("releasing the order-id lease took too long: it will expire"),
    }
    // closes the idle keep-alive connections left, then ends the HTTP workers
    handle.stop(false).await;
    let served = running
        .await
        .unwrap_or_else(|err| Err(std::io::Error::other(err)));
    tracing::info!("stopped");
    served
}

/// After the HTTP server was stopped at once through its handle (as a crash would stop it):
/// stops the background work and gives the order-id lease back.
pub(crate) async fn stop_after_halt(
    shutdown: CancellationToken,
    workers: Vec<JoinHandle<()>>,
    state: &AppState,
) {
    shutdown.cancel();
    for worker in workers {
        if let Err(err) = worker.await {
            tracing::error!(error = %err, "a worker failed");
        }
    }
    if let Err(err) = state.order_ids.shutdown().await {
        tracing::warn!(error = %err, "releasing the order-id lease failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waiting_for_idle_ends_when_the_last_request_ends() {
        let drain = Arc::new(Drain::default());
        let first = drain.track();
        let second = drain.track();
        let deadline = Instant::now() + Duration::from_secs(5);
        let waiting = tokio::spawn({
            let drain = Arc::clone(&drain);
            async move { drain.wait_idle(deadline).await }
        });
        drop(first);
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiting.is_finished(), "one request is still in flight");
        drop(second);
        assert!(waiting.await.unwrap());
    }

    #[tokio::test]
    async fn waiting_for_idle_gives_up_at_the_deadline() {
        let drain = Arc::new(Drain::default());
        let _stuck = drain.track();
        let deadline = Instant::now() + Duration::from_millis(50);
        assert!(!drain.wait_idle(deadline).await);
        assert_eq!(drain.in_flight(), 1);
    }

    #[test]
    fn the_reserve_after_the_drain_is_at_most_half_the_grace() {
        let short = Deadlines::from_now(Duration::from_secs(1));
        assert_eq!(short.exit - short.drain, Duration::from_millis(500));
        let long = Deadlines::from_now(Duration::from_secs(10));
        assert_eq!(long.exit - long.drain, Duration::from_secs(2));
    }
}
