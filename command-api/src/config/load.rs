//! Loading the settings: defaults, then a TOML file, then environment variables, then
//! command-line flags, merged by figment.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use figment::providers::{Env, Format, Serialized, Toml};
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};

use super::Settings;

/// Values the command line took, as typed: each from its flag or from the environment variable
/// that clap read for it. They override every other layer, and an invalid one is named as the
/// user wrote it.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    /// By setting: the value and how the user spelled it.
    values: BTreeMap<String, Given>,
}

/// One value of [`Overrides`].
#[derive(Debug, Clone)]
struct Given {
    /// The value as typed; parsed as the environment's values are (`60` is a number).
    value: String,
    /// The flag (`--http-addr`) or the environment variable (`ORDERS_HTTP_ADDR`).
    spelled: String,
    /// Whether it came from the environment rather than from a flag.
    from_env: bool,
}

impl Overrides {
    /// `setting` is `value`, given as the flag `flag`.
    pub fn flag(mut self, setting: &str, flag: &str, value: impl Into<String>) -> Self {
        self.insert(setting, flag, value.into(), false);
        self
    }

    /// `setting` is `value`, read by the command line from the environment variable `var`.
    pub fn env(mut self, setting: &str, var: &str, value: impl Into<String>) -> Self {
        self.insert(setting, var, value.into(), true);
        self
    }

    fn insert(&mut self, setting: &str, spelled: &str, value: String, from_env: bool) {
        let given = Given {
            value,
            spelled: spelled.to_owned(),
            from_env,
        };
        self.values.insert(setting.to_owned(), given);
    }

    /// The flag or variable `setting` was given as, if it was.
    fn spelled(&self, setting: &str) -> Option<&Given> {
        self.values.get(setting)
    }
}

/// The figment name of the overrides' layer.
const OVERRIDES_NAME: &str = "the command line";

impl Provider for Overrides {
    fn metadata(&self) -> Metadata {
        Metadata::named(OVERRIDES_NAME)
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let dict = self
            .values
            .iter()
            .map(|(setting, given)| {
                let value = Value::from_str(&given.value).unwrap_or_else(|never| match never {});
                (setting.clone(), value)
            })
            .collect();
        Ok(Profile::Default.collect(dict))
    }
}

/// The setting of the shards' databases.
const SHARDS: &str = "shards";

/// The prefix of the settings' environment variables.
const ENV_PREFIX: &str = "ORDERS_";
/// The settings read from the environment without the prefix, as other tools name them.
const ENV_RAW: [&str; 2] = ["DATABASE_URL", "NATS_URL"];

/// A configuration that could not be loaded. Each names the setting as the user wrote it: the
/// key in the file or the environment variable. None carries a source: the message says the
/// cause once, also where the causes are printed after it (`{:#}`).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file is missing, unreadable or not TOML.
    #[error("cannot read the configuration file {}: {reason}", file.display())]
    File {
        /// The file, as given.
        file: PathBuf,
        /// Why, as the reader said.
        reason: String,
    },
    /// The file has a key that is no setting: a typo would otherwise leave its setting at the
    /// default without a word.
    #[error(
        "unknown setting {key} in {}{}; the settings are: {}",
        file.display(),
        suggestion.as_ref().map(|s| format!(" (did you mean {s}?)")).unwrap_or_default(),
        setting_names().join(", ")
    )]
    UnknownSetting {
        /// The key.
        key: String,
        /// The file, as given.
        file: PathBuf,
        /// The setting closest to the key, when one is close.
        suggestion: Option<String>,
    },
    /// A setting's value is not one it takes.
    #[error("invalid setting {setting} in {origin}: {reason}")]
    Invalid {
        /// The setting as written: the key in the file or the environment variable.
        setting: String,
        /// Where: the file or `the environment`.
        origin: String,
        /// What is wrong with the value.
        reason: String,
    },
}

impl Settings {
    /// Defaults, then `file` (when given), then `ORDERS_*` variables and `DATABASE_URL` /
    /// `NATS_URL`, then `overrides`. A key in the file that is no setting is refused; an
    /// `ORDERS_*` variable that is none is left alone, as other tools share the prefix.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        if let Some(file) = file {
            check_keys(file)?;
            figment = figment.merge(Toml::file_exact(file));
        }
        let figment = figment
            .merge(Env::prefixed(ENV_PREFIX))
            .merge(Env::raw().only(&ENV_RAW))
            .merge(overrides);
        let settings: Self = figment
            .extract()
            .map_err(|err| invalid(err, file, overrides))?;
        settings
            .shards
            .check_against(&settings.database_url)
            .map_err(|reason| {
                let mut err = figment::Error::from(reason);
                err.path = vec![SHARDS.to_owned()];
                err.metadata = figment.find_metadata(SHARDS).cloned();
                invalid(err, file, overrides)
            })?;
        Ok(settings)
    }
}

/// The environment variable of `setting`: `ORDERS_` and its name in capitals, except the two
/// that other tools name without the prefix (`DATABASE_URL`, `NATS_URL`).
pub fn env_var(setting: &str) -> String {
    let upper = setting.to_ascii_uppercase();
    if ENV_RAW.contains(&upper.as_str()) {
        upper
    } else {
        format!("{ENV_PREFIX}{upper}")
    }
}

/// Every setting's name (its key in the file), in alphabetical order.
pub fn setting_names() -> Vec<String> {
    Serialized::defaults(Settings::default())
        .data()
        .map(|profiles| {
            let names: BTreeSet<&String> = profiles.values().flat_map(|d| d.keys()).collect();
            names.into_iter().cloned().collect()
        })
        .unwrap_or_default()
}

/// Refuses the first key of `file` that is no setting (tables included).
fn check_keys(file: &Path) -> Result<(), ConfigError> {
    let data = Toml::file_exact(file)
        .data()
        .map_err(|err| ConfigError::File {
            file: file.to_owned(),
            reason: err.kind.to_string().trim().to_owned(),
        })?;
    let names = setting_names();
    let unknown = data
        .values()
        .flat_map(|dict| dict.keys())
        .find(|key| !names.contains(key));
    match unknown {
        Some(key) => Err(ConfigError::UnknownSetting {
            key: key.clone(),
            file: file.to_owned(),
            suggestion: closest(key, &names),
        }),
        None => Ok(()),
    }
}

/// Longest edit distance, per three characters of the key, at which a setting is suggested.
const SUGGESTION_CHARS_PER_EDIT: usize = 3;

/// The setting `key` most likely meant: the one it names as its variable or in another case
/// (`ORDERS_HTTP_ADDR`, `Http_Addr`), else the nearest by edit distance when near enough.
fn closest(key: &str, names: &[String]) -> Option<String> {
    let lower = key.to_ascii_lowercase();
    let bare = lower
        .strip_prefix(&ENV_PREFIX.to_ascii_lowercase())
        .unwrap_or(&lower);
    if let Some(name) = names.iter().find(|name| *name == bare) {
        return Some(name.clone());
    }
    let most = (bare.len() / SUGGESTION_CHARS_PER_EDIT).max(1);
    names
        .iter()
        .map(|name| (edit_distance(bare, name), name))
        .filter(|(distance, _)| *distance <= most)
        .min()
        .map(|(_, name)| name.clone())
}

/// Levenshtein distance between `a` and `b`, by bytes (the names are ASCII).
fn edit_distance(a: &str, b: &str) -> usize {
    let b = b.as_bytes();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.bytes().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = if ca == *cb {
                diagonal
            } else {
                1 + diagonal.min(above).min(row[j])
            };
            diagonal = above;
        }
    }
    row[b.len()]
}

/// figment's error, with the setting named as the user wrote it: figment says
/// `"default.checkout_ttl_secs"` for the file's key and `"CHECKOUT_TTL_SECS"` for the
/// variable `ORDERS_CHECKOUT_TTL_SECS`. figment may chain several errors; the first is told.
fn invalid(err: figment::Error, file: Option<&Path>, overrides: &Overrides) -> ConfigError {
    let prefixed = Env::prefixed(ENV_PREFIX).metadata().name;
    let raw = Env::raw().metadata().name;
    let key = err.path.join(".");
    let reason = err.kind.to_string();
    let (setting, origin) = match err.metadata.as_ref() {
        Some(md) if matches!(md.source, Some(figment::Source::File(_))) => {
            let origin = file.map_or_else(
                || {
                    md.source
                        .as_ref()
                        .map(ToString::to_string)
                        .unwrap_or_default()
                },
                |file| file.display().to_string(),
            );
            (key, origin)
        }
        Some(md) if md.name == prefixed => (
            format!("{ENV_PREFIX}{}", key.to_ascii_uppercase()),
            "the environment".to_owned(),
        ),
        Some(md) if md.name == raw => (key.to_ascii_uppercase(), "the environment".to_owned()),
        _ => match overrides.spelled(&key) {
            Some(given) if given.from_env => (given.spelled.clone(), "the environment".to_owned()),
            Some(given) => (given.spelled.clone(), OVERRIDES_NAME.to_owned()),
            None => (key, OVERRIDES_NAME.to_owned()),
        },
    };
    ConfigError::Invalid {
        setting,
        origin,
        reason,
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
            let overrides =
                Overrides::default().flag("database_url", "--database-url", "sqlite:/tmp/o.db");
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

    /// The message of the error `Settings::load` answers, with `orders.toml` as the file when
    /// `file` is given.
    fn load_error(file: bool) -> String {
        let file = file.then(|| Path::new("orders.toml"));
        Settings::load(file, &Overrides::default())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment::Jail's own error type
    fn an_unknown_key_in_the_file_is_refused_naming_it_the_file_and_the_close_match() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("orders.toml", "http_adr = \"0.0.0.0:9000\"\n")?;
            let err = load_error(true);
            assert!(
                err.starts_with(
                    "unknown setting http_adr in orders.toml (did you mean http_addr?); \
                     the settings are: "
                ),
                "{err}"
            );
            for name in [
                "abandoned_placement_secs",
                "http_addr",
                "shutdown_grace_secs",
            ] {
                assert!(err.contains(name), "{name} not listed: {err}");
            }
            Ok(())
        });
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment::Jail's own error type
    fn a_key_written_as_its_environment_variable_is_refused_pointing_at_the_setting() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("orders.toml", "ORDERS_CHECKOUT_TTL_SECS = 60\n")?;
            let err = load_error(true);
            assert!(
                err.starts_with(
                    "unknown setting ORDERS_CHECKOUT_TTL_SECS in orders.toml (did you mean \
                     checkout_ttl_secs?)"
                ),
                "{err}"
            );
            Ok(())
        });
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment::Jail's own error type
    fn a_table_or_a_far_off_key_in_the_file_is_refused_without_a_guess() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("orders.toml", "[server]\nport = 8080\n")?;
            let err = load_error(true);
            assert!(
                err.starts_with("unknown setting server in orders.toml; the settings are: "),
                "{err}"
            );
            jail.create_file("orders.toml", "colour = \"blue\"\n")?;
            let err = load_error(true);
            assert!(
                err.starts_with("unknown setting colour in orders.toml; "),
                "{err}"
            );
            Ok(())
        });
    }

    /// The settings without a default (`None`) are settings all the same.
    #[test]
    #[allow(clippy::result_large_err)] // figment::Jail's own error type
    fn the_settings_without_a_default_are_accepted_in_the_file() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "orders.toml",
                "nats_url = \"nats://127.0.0.1:4222\"\npayment_provider = \"none\"\n",
            )?;
            let settings = Settings::load(Some(Path::new("orders.toml")), &Overrides::default())
                .map_err(|e| e.to_string())?;
            assert_eq!(settings.nats_url.as_deref(), Some("nats://127.0.0.1:4222"));
            assert_eq!(settings.payment_provider, Some(PaymentProvider::Disabled));
            Ok(())
        });
    }

    /// Other tools use the `ORDERS_` prefix too: their variables are none of ours.
    #[test]
    #[allow(clippy::result_large_err)] // figment::Jail's own error type
    fn an_unknown_orders_variable_is_left_alone() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("ORDERS_DASHBOARD_THEME", "dark");
            let settings =
                Settings::load(None, &Overrides::default()).map_err(|e| e.to_string())?;
            assert_eq!(settings.checkout_ttl_secs, 900);
            Ok(())
        });
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment::Jail's own error type
    fn an_invalid_value_in_the_file_is_refused_naming_the_key_and_the_file_once() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("orders.toml", "checkout_ttl_secs = \"abc\"\n")?;
            let err = Settings::load(Some(Path::new("orders.toml")), &Overrides::default())
                .err()
                .ok_or("loaded")?;
            assert_eq!(
                err.to_string(),
                "invalid setting checkout_ttl_secs in orders.toml: invalid type: found string \
                 \"abc\", expected u64"
            );
            // `{:#}` prints the causes too: there are none to say it again
            assert!(std::error::Error::source(&err).is_none());
            Ok(())
        });
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment::Jail's own error type
    fn an_invalid_variable_is_refused_naming_the_variable() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("ORDERS_HTTP_ADDR", "localhost");
            assert_eq!(
                load_error(false),
                "invalid setting ORDERS_HTTP_ADDR in the environment: invalid socket address \
                 syntax"
            );
            Ok(())
        });
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment::Jail's own error type
    fn an_invalid_flag_or_variable_the_command_line_read_is_named_as_given() {
        figment::Jail::expect_with(|_jail| {
            let flag =
                Overrides::default().flag("payment_timeout_secs", "--payment-timeout-secs", "soon");
            let err = Settings::load(None, &flag).err().ok_or("loaded")?;
            assert_eq!(
                err.to_string(),
                "invalid setting --payment-timeout-secs in the command line: invalid type: found \
                 string \"soon\", expected u64"
            );
            let env = Overrides::default().env("http_addr", "ORDERS_HTTP_ADDR", "localhost");
            let err = Settings::load(None, &env).err().ok_or("loaded")?;
            assert_eq!(
                err.to_string(),
                "invalid setting ORDERS_HTTP_ADDR in the environment: invalid socket address \
                 syntax"
            );
            Ok(())
        });
    }

    #[test]
    fn every_setting_has_its_variable() {
        assert_eq!(env_var("database_url"), "DATABASE_URL");
        assert_eq!(env_var("nats_url"), "NATS_URL");
        assert_eq!(env_var("http_addr"), "ORDERS_HTTP_ADDR");
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment::Jail's own error type
    fn an_unreadable_file_is_refused_naming_it() {
        figment::Jail::expect_with(|jail| {
            let err = load_error(true);
            assert!(
                err.starts_with("cannot read the configuration file orders.toml: "),
                "{err}"
            );
            jail.create_file("orders.toml", "checkout_ttl_secs = \n")?;
            let err = load_error(true);
            assert!(
                err.starts_with("cannot read the configuration file orders.toml: TOML parse"),
                "{err}"
            );
            assert_eq!(err.matches("TOML parse error").count(), 1, "{err}");
            Ok(())
        });
    }
}
