//! Loading the settings: defaults, then a TOML file, then environment variables, then
//! command-line flags, merged by figment.

use std::net::SocketAddr;
use std::path::Path;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::Serialize;

use super::{LogFormat, Settings};
use crate::roles::Roles;

/// Command-line values that override every other layer when given.
#[derive(Debug, Default, Serialize)]
pub struct Overrides {
    /// `--database-url`
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
    /// `--role`
    #[serde(skip_serializing_if = "Option::is_none")]
    pub roles: Option<Roles>,
    /// `--nats-url`
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nats_url: Option<String>,
    /// `--http-addr`
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_addr: Option<SocketAddr>,
    /// `--log-format`
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_format: Option<LogFormat>,
}

/// A configuration that could not be loaded.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(#[from] Box<figment::Error>);

impl Settings {
    /// Defaults, then `file` (when given), then `ORDERS_*` variables and `DATABASE_URL` /
    /// `NATS_URL`, then `overrides`.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        if let Some(file) = file {
            figment = figment.merge(Toml::file_exact(file));
        }
        figment
            .merge(Env::prefixed("ORDERS_"))
            .merge(Env::raw().only(&["DATABASE_URL", "NATS_URL"]))
            .merge(Serialized::defaults(overrides))
            .extract()
            .map_err(|err| ConfigError(Box::new(err)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::PaymentProvider;

    #[test]
    #[allow(clippy::result_large_err)] // figment::Jail's own error type
    fn later_layers_override_earlier_ones() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "orders.toml",
                "http_addr = \"127.0.0.1:9000\"\ncheckout_ttl_secs = 60\n",
            )?;
            jail.set_env("ORDERS_CHECKOUT_TTL_SECS", "120");
            jail.set_env("ORDERS_ARCHIVE_WINDOW", "22:00-01:30");
            jail.set_env("ORDERS_POSTGRES_MAX_CONNECTIONS", "12");
            jail.set_env("DATABASE_URL", "postgres://postgres@localhost/x");
            let overrides = Overrides {
                database_url: Some("sqlite:/tmp/o.db".to_owned()),
                ..Overrides::default()
            };
            let settings = Settings::load(Some(Path::new("orders.toml")), &overrides)
                .map_err(|e| e.to_string())?;
            assert_eq!(settings.http_addr.port(), 9000);
            assert_eq!(settings.checkout_ttl_secs, 120);
            assert_eq!(settings.database_url, "sqlite:/tmp/o.db");
            assert_eq!(settings.payment_timeout_secs, 900);
            assert_eq!(settings.archive_window.to_string(), "22:00-01:30");
            assert_eq!(settings.archive_after_days, 90);
            assert_eq!(settings.postgres_max_connections, 12);
            Ok(())
        });
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment::Jail's own error type
    fn a_malformed_archive_window_is_refused_naming_the_setting() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("ORDERS_ARCHIVE_WINDOW", "2am-5am");
            let err = Settings::load(None, &Overrides::default())
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(err.to_lowercase().contains("archive_window"), "{err}");
            Ok(())
        });
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment::Jail's own error type
    fn the_payment_provider_and_callback_secret_come_from_the_environment() {
        figment::Jail::expect_with(|jail| {
            let settings =
                Settings::load(None, &Overrides::default()).map_err(|e| e.to_string())?;
            assert_eq!(settings.payment_provider, None);
            jail.set_env("ORDERS_PAYMENT_PROVIDER", "none");
            jail.set_env("ORDERS_PAYMENT_CALLBACK_SECRET", "whsec");
            let settings =
                Settings::load(None, &Overrides::default()).map_err(|e| e.to_string())?;
            assert_eq!(settings.payment_provider, Some(PaymentProvider::Disabled));
            assert_eq!(settings.payment_callback_secret, "whsec");
            jail.set_env("ORDERS_PAYMENT_PROVIDER", "simulator");
            let settings =
                Settings::load(None, &Overrides::default()).map_err(|e| e.to_string())?;
            assert_eq!(settings.payment_provider, Some(PaymentProvider::Simulator));
            jail.set_env("ORDERS_PAYMENT_PROVIDER", "stripe");
            let err = Settings::load(None, &Overrides::default())
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(err.to_lowercase().contains("payment_provider"), "{err}");
            Ok(())
        });
    }
}
