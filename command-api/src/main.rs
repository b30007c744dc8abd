//! The `orders` command line: run the server, migrate the store, sign tokens for trying the API.
// The command line talks to its user on stdout and stderr.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use command_api::auth::{Role, TokenKeys};
use command_api::config::{LogFormat, Overrides, Settings};
use command_api::startup::{Application, open_store};
use command_api::telemetry;

/// The order platform: an event-sourced order system for e-commerce.
#[derive(Parser)]
#[command(name = "orders", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Every setting, for `orders serve --help`.
const SETTINGS_HELP: &str = "\
Settings (defaults, then --config FILE, then environment, then flags):
  database_url          DATABASE_URL                 sqlite:./data/orders.db
  nats_url              NATS_URL                     (none: in-process)
  http_addr             ORDERS_HTTP_ADDR             127.0.0.1:8080
  jwt_secret            ORDERS_JWT_SECRET            a development secret (a warning is logged)
  checkout_ttl_secs     ORDERS_CHECKOUT_TTL_SECS     900
  payment_timeout_secs  ORDERS_PAYMENT_TIMEOUT_SECS  900
  log_format            ORDERS_LOG_FORMAT            pretty (or json); filter with RUST_LOG
The TOML file uses the names in the first column.";

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP server (command API, health, metrics) and the reactions beside it.
    #[command(after_help = SETTINGS_HELP)]
    Serve(Common),
    /// Apply the event-store migrations and exit (`serve` also applies them).
    #[command(after_help = SETTINGS_HELP)]
    Migrate(Common),
    /// Print a bearer token signed with the configured secret, for trying the API.
    Token {
        #[command(flatten)]
        common: Common,
        /// Role of the token's holder.
        #[arg(long, value_enum)]
        role: Role,
        /// Subject: the buyer id, seller id, operator or provider name.
        #[arg(long)]
        sub: String,
        /// Validity in seconds.
        #[arg(long, default_value_t = 86_400)]
        ttl_secs: i64,
    },
}

/// Settings come from defaults, then `--config FILE`, then environment variables, then these
/// flags. Environment: DATABASE_URL, NATS_URL, ORDERS_HTTP_ADDR, ORDERS_JWT_SECRET,
/// ORDERS_CHECKOUT_TTL_SECS, ORDERS_PAYMENT_TIMEOUT_SECS, ORDERS_LOG_FORMAT.
#[derive(Args)]
struct Common {
    /// TOML file with any of the settings (keys as the ORDERS_ variables, lower case, without
    /// the prefix; database_url, nats_url).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Event store: `sqlite:PATH` (embedded, the default `sqlite:./data/orders.db`) or
    /// `postgres://USER@HOST:PORT/DB`. Env: DATABASE_URL.
    #[arg(long, value_name = "URL")]
    database_url: Option<String>,
    /// NATS JetStream server for the event relay (default: none, in-process). Env: NATS_URL.
    #[arg(long, value_name = "URL")]
    nats_url: Option<String>,
    /// Address to listen on (default 127.0.0.1:8080; port 0 picks a free port).
    /// Env: ORDERS_HTTP_ADDR.
    #[arg(long, value_name = "ADDR")]
    http_addr: Option<std::net::SocketAddr>,
    /// Log format (default pretty). Env: ORDERS_LOG_FORMAT. Log filter: RUST_LOG.
    #[arg(long, value_enum)]
    log_format: Option<LogFormat>,
}

impl Common {
    fn settings(&self) -> anyhow::Result<Settings> {
        let overrides = Overrides {
            database_url: self.database_url.clone(),
            nats_url: self.nats_url.clone(),
            http_addr: self.http_addr,
            log_format: self.log_format,
        };
        Ok(Settings::load(self.config.as_deref(), &overrides)?)
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("orders: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(common) => {
            let settings = common.settings()?;
            telemetry::init(settings.log_format);
            let app = Application::build(settings).await?;
            tracing::info!(port = app.port(), "serving");
            app.run_until_stopped().await?;
        }
        Command::Migrate(common) => {
            let settings = common.settings()?;
            telemetry::init(settings.log_format);
            let store = open_store(&settings.database_url).await?;
            eprintln!("orders: {} event store migrated", store.backend_name());
        }
        Command::Token {
            common,
            role,
            sub,
            ttl_secs,
        } => {
            let settings = common.settings()?;
            let token = TokenKeys::new(&settings.jwt_secret).issue(
                &sub,
                role,
                chrono::Utc::now().timestamp(),
                ttl_secs,
            )?;
            println!("{token}");
        }
    }
    Ok(())
}
