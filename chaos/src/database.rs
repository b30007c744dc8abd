//! A fresh database per experiment, the faults done to it, and what it holds afterwards.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};
use sqlx::{ConnectOptions, Connection};

use crate::check::{LogOrder, Observed};

/// The order events, as the checks read them (both backends: PostgreSQL's `json` as text).
const ORDER_EVENTS_SQL: &str = "SELECT aggregate_id, event_type, CAST(payload AS text) FROM events WHERE aggregate_type = 'Order'";
/// The order ids the views hold.
const VIEW_IDS_SQL: &str =
    "SELECT order_id FROM order_detail UNION SELECT order_id FROM order_archive";
/// When each fired deadline was due and when it fired.
const FIRED_SQL: &str =
    "SELECT due_at_ms, fired_at_ms FROM payment_deadlines WHERE fired_at_ms IS NOT NULL";

/// An order event as read: order id, event type, payload.
type EventRow = (String, String, String);

/// Which store the servers use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A database of its own on the PostgreSQL cluster.
    Postgres,
    /// An embedded SQLite file of its own.
    Sqlite,
}

/// A database made for one experiment.
#[derive(Debug)]
pub enum Database {
    /// A database on the cluster: `admin_url` reaches its `postgres` database.
    Postgres {
        /// The cluster's maintenance database, where the experiment's is created and dropped.
        admin_url: String,
        /// The experiment's database.
        name: String,
    },
    /// A SQLite file.
    Sqlite {
        /// The file.
        path: PathBuf,
    },
}

impl Database {
    /// Creates an empty database: on PostgreSQL a database with a random name on the cluster
    /// of `admin_url`, on SQLite a file name in `dir` (the server creates it).
    pub async fn create(
        backend: Backend,
        admin_url: &str,
        dir: &std::path::Path,
    ) -> anyhow::Result<Self> {
        let tag = uuid::Uuid::new_v4().simple().to_string();
        match backend {
            Backend::Postgres => {
                let name = format!("chaos_{}", &tag[..12]);
                let mut admin = admin(admin_url).await?;
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&mut admin)
                    .await
                    .with_context(|| format!("creating database {name} on {admin_url}"))?;
                Ok(Self::Postgres {
                    admin_url: admin_url.to_owned(),
                    name,
                })
            }
            Backend::Sqlite => Ok(Self::Sqlite {
                path: dir.join(format!("chaos-{}.db", &tag[..12])),
            }),
        }
    }

    /// The `database_url` the servers get.
    pub fn url(&self) -> String {
        match self {
            Self::Postgres { admin_url, name } => match admin_url.rsplit_once('/') {
                Some((cluster, _)) => format!("{cluster}/{name}"),
                None => format!("{admin_url}/{name}"),
            },
            Self::Sqlite { path } => format!("sqlite:{}", path.display()),
        }
    }

    /// Drops the database (or deletes the file and its journal).
    pub async fn drop_it(&self) -> anyhow::Result<()> {
        match self {
            Self::Postgres { admin_url, name } => {
                let mut admin = admin(admin_url).await?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut admin)
                    .await
                    .with_context(|| format!("dropping database {name}"))?;
            }
            Self::Sqlite { path } => {
                for suffix in ["", "-wal", "-shm"] {
                    let mut file = path.clone().into_os_string();
                    file.push(suffix);
                    let _ = std::fs::remove_file(file);
                }
            }
        }
        Ok(())
    }

    /// Terminates every connection to the experiment's database (PostgreSQL only); answers
    /// how many.
    pub async fn cut_connections(&self) -> anyhow::Result<u64> {
        let Self::Postgres { admin_url, name } = self else {
            anyhow::bail!("cutting connections needs PostgreSQL");
        };
        let mut admin = admin(admin_url).await?;
        let cut: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = $1 AND pid <> pg_backend_pid()) AS t",
        )
        .bind(name)
        .fetch_one(&mut admin)
        .await
        .context("pg_terminate_backend")?;
        Ok(u64::try_from(cut).unwrap_or_default())
    }

    /// Holds a transaction that has taken a transaction id open for `hold`, in the
    /// experiment's database when `same_database`, else in the cluster's `postgres` database.
    pub async fn hold_transaction(
        &self,
        same_database: bool,
        hold: Duration,
    ) -> anyhow::Result<()> {
        let Self::Postgres { admin_url, .. } = self else {
            anyhow::bail!("holding a transaction needs PostgreSQL");
        };
        let url = if same_database {
            self.url()
        } else {
            admin_url.clone()
        };
        let mut conn = connect(&url).await?;
        let mut tx = conn.begin().await?;
        sqlx::query("SELECT pg_current_xact_id()")
            .execute(&mut *tx)
            .await
            .context("taking a transaction id")?;
        tokio::time::sleep(hold).await;
        tx.commit().await?;
        Ok(())
    }

    /// Reads what the checks compare with the ledger.
    pub async fn observe(&self) -> anyhow::Result<Observed> {
        let (events, views, fired): (Vec<EventRow>, Vec<String>, Vec<(i64, i64)>) = match self {
            Self::Postgres { .. } => {
                let pool = pg_pool(&self.url()).await?;
                let events = sqlx::query_as(ORDER_EVENTS_SQL).fetch_all(&pool).await?;
                let views = sqlx::query_scalar(VIEW_IDS_SQL).fetch_all(&pool).await?;
                let fired = sqlx::query_as(FIRED_SQL).fetch_all(&pool).await?;
                pool.close().await;
                (events, views, fired)
            }
            Self::Sqlite { path } => {
                let pool = sqlite_pool(path).await?;
                let events = sqlx::query_as(ORDER_EVENTS_SQL).fetch_all(&pool).await?;
                let views = sqlx::query_scalar(VIEW_IDS_SQL).fetch_all(&pool).await?;
                let fired = sqlx::query_as(FIRED_SQL).fetch_all(&pool).await?;
                pool.close().await;
                (events, views, fired)
            }
        };
        let mut observed = Observed {
            in_view: views.into_iter().collect(),
            fired_deadlines: fired,
            ..Observed::default()
        };
        for (order_id, event_type, payload) in events {
            let payload: Value = serde_json::from_str(&payload)
                .with_context(|| format!("{event_type} of order {order_id} is not JSON"))?;
            let body = &payload[&event_type];
            let log = observed.log.entry(order_id).or_default();
            read_event(log, &event_type, body);
        }
        Ok(observed)
    }
}

/// Adds one event (its type and its payload's body) to what is known of its order.
fn read_event(log: &mut LogOrder, event_type: &str, body: &Value) {
    let text = |field: &str| body[field].as_str().unwrap_or_default().to_owned();
    let time = |field: &str| {
        body[field]
            .as_str()
            .and_then(|t| t.parse::<DateTime<Utc>>().ok())
    };
    match event_type {
        "OrderPlaced" => {
            log.placed += 1;
            log.payment_due_at = time("payment_due_at");
        }
        "PaymentConfirmed" => log.confirmed.push(text("txn_id")),
        "PaidAfterClose" => log.paid_after_close.push(text("txn_id")),
        "OrderCancelled" if body["reason"] == "PaymentTimeout" => {
            log.timeouts.push(time("at").unwrap_or_default());
        }
        _ => {}
    }
}

async fn connect(url: &str) -> anyhow::Result<sqlx::PgConnection> {
    let options: PgConnectOptions = url.parse().with_context(|| format!("bad URL {url}"))?;
    options
        .disable_statement_logging()
        .connect()
        .await
        .with_context(|| format!("connecting to {url}"))
}

async fn admin(admin_url: &str) -> anyhow::Result<sqlx::PgConnection> {
    connect(admin_url).await
}

async fn pg_pool(url: &str) -> anyhow::Result<PgPool> {
    let options: PgConnectOptions = url.parse().with_context(|| format!("bad URL {url}"))?;
    PgPoolOptions::new()
        .max_connections(1)
        .connect_with(options.disable_statement_logging())
        .await
        .with_context(|| format!("connecting to {url}"))
}

async fn sqlite_pool(path: &std::path::Path) -> anyhow::Result<SqlitePool> {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .busy_timeout(Duration::from_secs(30));
    SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .with_context(|| format!("opening {}", path.display()))
}
