//! Building and running the application: the store, the HTTP server and the workers beside it.

use std::net::TcpListener;
use std::path::Path;
use std::time::Instant;

use actix_web::dev::{Server, Service};
use actix_web::{App, HttpServer, web};
use event_store::{EventStore, StoreError};
use futures::FutureExt;
use tracing_actix_web::TracingLogger;

use ids::{IdError, OrderIdGenerator, SegmentAllocator};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::auth::TokenKeys;
use crate::checkout_token::CheckoutTokens;
use crate::config::{DEV_JWT_SECRET, Settings, redact_url};
use crate::metrics::Metrics;
use crate::problem::Problem;
use crate::reactions::{OrderReactions, runner};
use crate::routes;
use crate::state::AppState;

/// Seconds in-flight requests get to finish on shutdown.
const SHUTDOWN_TIMEOUT_SECS: u64 = 10;
/// Largest JSON body accepted.
const JSON_BODY_SIZE_MAX_BYTES: usize = 256 * 1024;

/// A failure to start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// The event store could not be opened or migrated.
    #[error("cannot open the event store at {url}")]
    Store {
        /// The (redacted) URL.
        url: String,
        /// Why.
        #[source]
        source: StoreError,
    },
    /// The listener or a directory could not be set up.
    #[error("cannot set up the server")]
    Io(#[from] std::io::Error),
    /// The metrics registry refused a metric.
    #[error("cannot register metrics")]
    Metrics(#[from] prometheus::Error),
    /// No order-id worker could be leased, or the id tables are unusable.
    #[error("cannot start the id allocators")]
    Ids(#[from] IdError),
}

/// Opens the event store named by `url` and applies its migrations. For SQLite the file's
/// folder is created first.
pub async fn open_store(url: &str) -> Result<EventStore, StartupError> {
    let failed = |source| StartupError::Store {
        url: redact_url(url),
        source,
    };
    if let Some(path) = sqlite_file(url) {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
    }
    let store = EventStore::connect(url).await.map_err(failed)?;
    store.migrate().await.map_err(failed)?;
    Ok(store)
}

fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "orders".to_owned())
}

fn sqlite_file(url: &str) -> Option<&Path> {
    let rest = url.strip_prefix("sqlite:")?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let path = rest.split('?').next().unwrap_or(rest);
    (path != ":memory:" && !path.is_empty()).then(|| Path::new(path))
}

/// The running application: its HTTP server, bound to a port, and the workers beside it.
pub struct Application {
    port: u16,
    server: Server,
    state: web::Data<AppState>,
    shutdown: CancellationToken,
    workers: Vec<JoinHandle<()>>,
}

impl Application {
    /// Opens the store, binds the listener (port 0 picks a free port) and prepares the server.
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        if settings.jwt_secret == DEV_JWT_SECRET {
            tracing::warn!("no jwt_secret configured: using the development secret");
        }
        let store = open_store(&settings.database_url).await?;
        tracing::info!(
            store = store.backend_name(),
            url = %redact_url(&settings.database_url),
            "event store ready"
        );
        let listener = TcpListener::bind(settings.http_addr)?;
        let port = listener.local_addr()?.port();
        let keys = web::Data::new(TokenKeys::new(&settings.jwt_secret));
        let metrics = web::Data::new(Metrics::new()?);
        let owner = format!("{}:{}", hostname(), std::process::id());
        let order_ids = OrderIdGenerator::start(&store, &owner).await?;
        tracing::info!(worker = order_ids.worker_id(), "order-id worker leased");
        let refund_numbers = SegmentAllocator::new(&store, "refund")?;
        let shutdown = CancellationToken::new();
        let workers = vec![tokio::spawn(runner::run(
            store.clone(),
            OrderReactions::new(store.clone()),
            shutdown.clone(),
        ))];
        let state = web::Data::new(AppState {
            checkout: CheckoutTokens::new(&settings.jwt_secret),
            store,
            settings,
            order_ids,
            refund_numbers,
        });
        let app_state = state.clone();

        let server = HttpServer::new(move || {
            let metrics_mw = metrics.clone();
            App::new()
                .wrap_fn(move |req, srv| {
                    let started = Instant::now();
                    let method = req.method().to_string();
                    let route = req
                        .match_pattern()
                        .unwrap_or_else(|| "unmatched".to_owned());
                    let metrics = metrics_mw.clone();
                    srv.call(req).map(move |res| {
                        if let Ok(res) = &res {
                            let status = res.status().as_u16().to_string();
                            metrics
                                .http_requests
                                .with_label_values(&[&method, &route, &status])
                                .inc();
                            metrics
                                .http_latency
                                .with_label_values(&[&method, &route])
                                .observe(started.elapsed().as_secs_f64());
                        }
                        res
                    })
                })
                .wrap(TracingLogger::default())
                .app_data(
                    web::JsonConfig::default()
                        .limit(JSON_BODY_SIZE_MAX_BYTES)
                        .error_handler(|err, _| Problem::bad_request(err.to_string()).into()),
                )
                .app_data(
                    web::PathConfig::default()
                        .error_handler(|err, _| Problem::bad_request(err.to_string()).into()),
                )
                .app_data(
                    web::QueryConfig::default()
                        .error_handler(|err, _| Problem::bad_request(err.to_string()).into()),
                )
                .app_data(app_state.clone())
                .app_data(keys.clone())
                .app_data(metrics.clone())
                .configure(routes::configure)
        })
        .listen(listener)?
        .shutdown_timeout(SHUTDOWN_TIMEOUT_SECS)
        .run();
        Ok(Self {
            port,
            server,
            state,
            shutdown,
            workers,
        })
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until the server is stopped (SIGTERM stops it gracefully, SIGINT at once), then
    /// stops the workers and gives up the order-id worker lease.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let served = self.server.await;
        self.shutdown.cancel();
        for worker in self.workers {
            if let Err(err) = worker.await {
                tracing::error!(error = %err, "a worker failed");
            }
        }
        // The server's app factories are gone by now; if anything still holds the state, the
        // lease simply expires.
        if let Ok(state) = std::sync::Arc::try_unwrap(self.state.into_inner()) {
            if let Err(err) = state.order_ids.shutdown().await {
                tracing::warn!(error = %err, "releasing the order-id lease failed");
            }
        }
        served
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_name_their_file() {
        assert_eq!(
            sqlite_file("sqlite:./data/orders.db"),
            Some(Path::new("./data/orders.db"))
        );
        assert_eq!(
            sqlite_file("sqlite:///tmp/o.db?mode=rwc"),
            Some(Path::new("/tmp/o.db"))
        );
        assert_eq!(sqlite_file("sqlite::memory:"), None);
        assert_eq!(sqlite_file("postgres://x/y"), None);
    }
}
