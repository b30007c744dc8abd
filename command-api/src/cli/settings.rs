//! The settings on the command line: every setting is a flag with its environment variable,
//! grouped by what uses it, and each subcommand takes only the groups it uses (`orders token`
//! the token secret, `orders reconcile` the database). The flags are built from one table, so
//! their names, their variables and the defaults shown in `--help` come from the settings
//! themselves and cannot drift from them.
//!
//! clap reads a flag or, failing that, its variable, and hands the value over as typed; the
//! configuration loader parses it with the other layers, so a value is checked in one place and
//! an invalid one is named as the user wrote it (`--http-addr`, `ORDERS_HTTP_ADDR`).
//! Precedence: flag, then environment, then `--config FILE`, then the default.

use clap::parser::ValueSource;
use clap::{Arg, ArgAction, ArgMatches, Command};
use command_api::config::{Overrides, Settings, env_var, setting_names};

/// One setting's flag.
pub(crate) struct Flag {
    /// The setting's name (its key in the file); the flag is this with dashes.
    name: &'static str,
    /// What the value looks like in the usage line.
    value_name: &'static str,
    /// What it does (clap appends the variable and the default).
    help: &'static str,
    /// Whether the flag may be given several times, each adding to the setting (its values
    /// are joined by commas, as its variable holds them).
    repeated: bool,
}

/// Settings that go together: a subcommand takes a group whole.
pub(crate) type Group = &'static [Flag];

const fn flag(name: &'static str, value_name: &'static str, help: &'static str) -> Flag {
    Flag {
        name,
        value_name,
        help,
        repeated: false,
    }
}

/// A flag given once per value: `--shard s1=URL --shard s2=URL`.
const fn repeated(name: &'static str, value_name: &'static str, help: &'static str) -> Flag {
    Flag {
        repeated: true,
        ..flag(name, value_name, help)
    }
}

/// Where the log and the read models are.
pub(crate) const DATABASE: Group = &[
    flag(
        "database_url",
        "URL",
        "Event store: `sqlite:PATH` (embedded) or `postgres://USER@HOST:PORT/DB`",
    ),
    flag(
        "postgres_max_connections",
        "N",
        "PostgreSQL connections of the pool, at least 4 (nodes x this < max_connections)",
    ),
    repeated(
        "shards",
        "NAME=URL",
        "A PostgreSQL database the shard map names, once per shard (`default` is \
         database_url); the variable holds NAME=URL,NAME=URL",
    ),
];

/// How the command line logs.
pub(crate) const LOG: Group = &[flag(
    "log_format",
    "FORMAT",
    "Log format: pretty or json (filter with RUST_LOG)",
)];

/// The secret of bearer and checkout tokens.
pub(crate) const TOKENS: Group = &[flag(
    "jwt_secret",
    "SECRET",
    "HS256 secret of bearer and checkout tokens (the development one is refused unless \
     http_addr is loopback)",
)];

/// The payment provider's shared secret.
pub(crate) const CALLBACKS: Group = &[flag(
    "payment_callback_secret",
    "SECRET",
    "Secret of the payment provider's signed callbacks (the development one is refused unless \
     http_addr is loopback)",
)];

/// Where the server listens.
pub(crate) const HTTP: Group = &[flag(
    "http_addr",
    "ADDR",
    "Address to listen on (port 0 picks a free port)",
)];

/// NATS JetStream and the stream of the log.
pub(crate) const NATS: Group = &[
    flag(
        "nats_url",
        "URL",
        "NATS JetStream server for the event relay (default: none, in-process)",
    ),
    flag(
        "nats_stream",
        "NAME",
        "The JetStream stream the relay publishes the log to",
    ),
    flag(
        "nats_subject_prefix",
        "PREFIX",
        "First token of every subject: <prefix>.<aggregate>.<partition>.<event>",
    ),
];

/// What only a server uses.
pub(crate) const SERVER: Group = &[
    flag(
        "roles",
        "ROLES",
        "This node's roles, comma-separated: api, projector, reactor, relay, timer",
    ),
    flag(
        "shutdown_grace_secs",
        "SECS",
        "How long a graceful shutdown (SIGTERM) may take",
    ),
    flag(
        "checkout_ttl_secs",
        "SECS",
        "How long a checkout token stays valid",
    ),
    flag(
        "product_staleness_ms",
        "MS",
        "How far a placement's product check may lag the log (0: none)",
    ),
    flag(
        "nats_retention",
        "POLICY",
        "How long the stream keeps messages: limits, interest or workqueue",
    ),
    flag(
        "nats_max_age_secs",
        "SECS",
        "Messages older than this leave the stream (0: for ever)",
    ),
    flag(
        "nats_duplicate_window_secs",
        "SECS",
        "A Nats-Msg-Id seen within this window is dropped",
    ),
    flag(
        "nats_replicas",
        "N",
        "Copies of the stream in a NATS cluster",
    ),
    flag(
        "cart_consumer_max_deliveries",
        "N",
        "Deliveries to the cart consumer before the dead-letter stream",
    ),
    flag(
        "cart_consumer_ack_wait_secs",
        "SECS",
        "How long the cart consumer has to acknowledge a message",
    ),
];

/// Payments: the provider, deadlines and the simulator's faults.
pub(crate) const PAYMENTS: Group = &[
    flag(
        "payment_provider",
        "PROVIDER",
        "simulator or none (default: the simulator on a loopback http_addr, else none)",
    ),
    flag(
        "payment_timeout_secs",
        "SECS",
        "How long a placed order waits for payment",
    ),
    flag(
        "payment_sweep_interval_secs",
        "SECS",
        "How often the sweeper fires the deadlines the timer missed",
    ),
    flag(
        "abandoned_placement_secs",
        "SECS",
        "Reservations without an order are released after this",
    ),
    flag(
        "simulator_callback_drop_permille",
        "PERMILLE",
        "Payment simulator: success callbacks dropped",
    ),
    flag(
        "simulator_callback_duplicate_permille",
        "PERMILLE",
        "Payment simulator: success callbacks sent twice",
    ),
    flag(
        "simulator_callback_delay_permille",
        "PERMILLE",
        "Payment simulator: success callbacks delayed",
    ),
    flag(
        "simulator_callback_delay_ms",
        "MS",
        "Payment simulator: how long a delayed callback waits",
    ),
    flag(
        "simulator_refund_settle_ms",
        "MS",
        "Payment simulator: how long a refund takes to pay out",
    ),
];

/// The server's archiver.
pub(crate) const ARCHIVE: Group = &[
    flag(
        "archive_after_days",
        "DAYS",
        "Settled orders move to the archive this long after their last change",
    ),
    flag(
        "archive_batch_size",
        "N",
        "Orders the archiver moves per transaction",
    ),
    flag(
        "archive_window",
        "HH:MM-HH:MM",
        "UTC time of day in which the server archives (00:00-24:00: any time; off)",
    ),
    flag(
        "archive_interval_secs",
        "SECS",
        "How often the archiver looks at the clock",
    ),
];

/// Admission control in front of placement, the risk rule and the filter of known ids.
pub(crate) const ADMISSION: Group = &[
    flag(
        "admission_buyer_per_sec",
        "N",
        "Placements one buyer may start per second outside a campaign (0: no limit)",
    ),
    flag(
        "admission_buyer_burst",
        "N",
        "Placements one buyer may start at once above that rate",
    ),
    flag(
        "admission_campaign_buyer_per_sec",
        "N",
        "Placements one buyer may start per second in one campaign (0: no limit)",
    ),
    flag(
        "admission_campaign_buyer_burst",
        "N",
        "Placements one buyer may start at once in one campaign",
    ),
    flag(
        "admission_global_per_sec",
        "N",
        "Placements the node starts per second, all buyers together (0: no limit)",
    ),
    flag(
        "admission_global_burst",
        "N",
        "Placements the node starts at once above that rate",
    ),
    flag(
        "admission_queue_max",
        "N",
        "Placements the node runs at once; one more is answered 429 (0: no bound)",
    ),
    flag(
        "risk_placements_rule",
        "BOOL",
        "The risk rule: refuse a buyer's placements beyond the next setting per minute",
    ),
    flag(
        "risk_placements_per_minute",
        "N",
        "Placements per buyer and minute the risk rule allows",
    ),
    flag(
        "bloom_false_positive_rate",
        "RATE",
        "Share of made-up ids the filter of known ids lets through to a read",
    ),
    flag(
        "bloom_expected_items",
        "N",
        "Ids the filter of known ids is sized for at start (it grows beyond)",
    ),
];

/// Every group `orders serve` takes: all of them.
pub(crate) const SERVE: &[Group] = &[
    DATABASE, LOG, HTTP, TOKENS, CALLBACKS, NATS, SERVER, PAYMENTS, ARCHIVE, ADMISSION,
];

/// The flag of `setting`: `--role` for the roles (one role is a list of one), else its name
/// with dashes.
fn long(setting: &str) -> String {
    match setting {
        "roles" => "role".to_owned(),
        "shards" => "shard".to_owned(),
        name => name.replace('_', "-"),
    }
}

/// Whether `setting`'s values may hold a secret: the secrets, and the shards' URLs with their
/// passwords.
fn holds_secrets(setting: &str) -> bool {
    setting.ends_with("secret") || setting == "shards"
}

/// The default of every setting that has one, as `--help` shows it.
fn default_of(setting: &str) -> Option<String> {
    let defaults = serde_json::to_value(Settings::default()).ok()?;
    match defaults.get(setting)? {
        serde_json::Value::Null => None,
        serde_json::Value::Object(map) if map.is_empty() => None,
        serde_json::Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// `command` with the flags of `groups`.
pub(crate) fn with_groups(command: Command, groups: &[Group]) -> Command {
    let args = groups.iter().flat_map(|group| group.iter()).map(|flag| {
        let mut help = flag.help.to_owned();
        // the secrets' defaults are development values, not to be shown as advice
        if let Some(default) = default_of(flag.name).filter(|_| !holds_secrets(flag.name)) {
            help.push_str(&format!(" [default: {default}]"));
        }
        let arg = Arg::new(flag.name);
        let arg = if flag.repeated {
            arg.action(ArgAction::Append)
        } else {
            arg
        };
        arg.long(long(flag.name))
            .env(env_var(flag.name))
            .value_name(flag.value_name)
            .help(help)
            .help_heading("Settings")
            .hide_env_values(holds_secrets(flag.name))
    });
    command.args(args)
}

/// The settings the command line was given, with how each was given, from the matches of the
/// subcommand that runs (the innermost).
pub(crate) fn overrides(matches: &ArgMatches) -> Overrides {
    let mut leaf = matches;
    while let Some((_, sub)) = leaf.subcommand() {
        leaf = sub;
    }
    let mut overrides = Overrides::default();
    for name in setting_names() {
        let Ok(Some(values)) = leaf.try_get_many::<String>(&name) else {
            continue;
        };
        let value = values.map(String::as_str).collect::<Vec<_>>().join(",");
        overrides = match leaf.value_source(&name) {
            Some(ValueSource::EnvVariable) => overrides.env(&name, &env_var(&name), value),
            _ => overrides.flag(&name, &format!("--{}", long(&name)), value),
        };
    }
    overrides
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A new setting without a flag fails here: `orders serve` takes every setting.
    #[test]
    fn serve_has_a_flag_for_every_setting_and_only_settings() {
        let mut flagged: Vec<&str> = SERVE
            .iter()
            .flat_map(|group| group.iter().map(|flag| flag.name))
            .collect();
        flagged.sort_unstable();
        let names = setting_names();
        assert_eq!(
            flagged,
            names.iter().map(String::as_str).collect::<Vec<_>>()
        );
    }

    /// A new setting without its row in the README's configuration table fails here: the row
    /// names the key, its flag and its variable.
    #[test]
    fn the_readme_has_a_row_for_every_setting() {
        const README: &str = include_str!("../../../README.md");
        for name in setting_names() {
            let start = format!("| `{name}` | `--{}", long(&name));
            let row = README
                .lines()
                .find(|line| line.starts_with(&start))
                .unwrap_or_else(|| panic!("README.md has no row starting {start:?}"));
            let variable = format!("`{}`", env_var(&name));
            assert!(row.contains(&variable), "{variable} not in {row}");
        }
    }
}
