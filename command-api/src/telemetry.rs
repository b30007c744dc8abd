//! Structured logs through `tracing`: `RUST_LOG` filters, the format is configurable.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::prelude::*;

use crate::config::LogFormat;

/// The filter when `RUST_LOG` is not set: info, but not actix's line per malformed request
/// ("stream error: request parse error", at ERROR level): a client's garbage is not the
/// server's fault, and a flood of it would flood the log. The access log (target
/// `orders::access`, see [`crate::access`]) is in: `RUST_LOG=info,orders::access=off` leaves
/// it out.
pub const DEFAULT_LOG_FILTER: &str = "info,actix_http::h1::dispatcher=off";

/// Installs the global subscriber: the log on stderr, filtered by `RUST_LOG`, and the pool's
/// acquire metrics ([`crate::pool_waits`]), whatever the log's filter. Later calls are no-ops
/// (tests start several apps).
pub fn init(format: LogFormat) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_LOG_FILTER));
    let log = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let log = match format {
        LogFormat::Pretty => log.boxed(),
        LogFormat::Json => log.json().boxed(),
    };
    let _already_set = tracing_subscriber::registry()
        .with(log.with_filter(filter))
        .with(crate::pool_waits::layer())
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_filter_parses_and_silences_only_actix_parse_errors() {
        let filter = EnvFilter::try_new(DEFAULT_LOG_FILTER).unwrap().to_string();
        assert!(
            filter.contains("actix_http::h1::dispatcher=off"),
            "{filter}"
        );
        assert!(filter.contains("info"), "{filter}");
    }
}
