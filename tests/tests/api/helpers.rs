//! `spawn_app` and typed helpers for talking to the application over HTTP.

use std::time::Duration;

use command_api::auth::{Role, TokenKeys};
use command_api::config::Settings;
use command_api::payments::signature::{CallbackKey, SIGNATURE_HEADER};
use command_api::services::Clock;
use command_api::startup::{Application, ServerHandle};
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use sqlx::Connection;

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    /// The app's signing secret.
    pub secret: String,
    keys: TokenKeys,
    /// Signs payment notifications as the provider does.
    callback_key: CallbackKey,
    _sqlite_dir: Option<tempfile::TempDir>,
    /// The settings the app runs with (its database, payment timeout, ...).
    pub settings: Settings,
    server: ServerHandle,
    running: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// The pool of each test app.
const TEST_POSTGRES_CONNECTIONS_MAX: u32 = 10;

/// The pool of each shard of a sharded test app: three pools per app.
const SHARDED_POSTGRES_CONNECTIONS_MAX: u32 = 6;

/// Databases of earlier runs older than this are dropped when a test starts.
const STALE_DATABASE_AGE_SECS: u64 = 3_600;

/// The application against a fresh PostgreSQL database on `DATABASE_URL`'s server (the
/// README's test command sets it; 127.0.0.1:5432 otherwise).
pub async fn spawn_app() -> TestApp {
    start(fresh_database().await, None).await
}

/// The shards of [`spawn_sharded_app`] besides `default`, in the order of their databases.
pub const SHARDS: [&str; 2] = ["s2", "s3"];

/// The application on three fresh PostgreSQL databases in the one server (ADR 42): the
/// `database_url` (`default`, the catalog) and [`SHARDS`], with a shard map (version 2)
/// written before the node starts that puts a third of the 1024 genes on each.
pub async fn spawn_sharded_app() -> TestApp {
    spawn_sharded_app_with(|_| {}).await
}

/// [`spawn_sharded_app`] with its settings changed by `change` first.
pub async fn spawn_sharded_app_with(change: impl FnOnce(&mut Settings)) -> TestApp {
    let mut settings = test_settings(fresh_database().await);
    change(&mut settings);
    settings.postgres_max_connections = SHARDED_POSTGRES_CONNECTIONS_MAX;
    let mut urls = serde_json::Map::new();
    for shard in SHARDS {
        urls.insert(shard.to_owned(), Value::String(fresh_database().await));
    }
    settings.shards = serde_json::from_value(Value::Object(urls)).unwrap();
    let store = command_api::startup::open_store(&settings).await.unwrap();
    let pool = store.postgres_pool().unwrap().clone();
    shards::MapStore::new(pool.clone())
        .publish(&thirds(), "a third of the genes on each database")
        .await
        .unwrap();
    pool.close().await;
    start_with(settings, None).await
}

/// The map of [`spawn_sharded_app`]: genes 0-340 on `default`, 341-681 on `s2`, 682-1023 on
/// `s3`.
pub fn thirds() -> shards::ShardMap {
    let ranges = [
        (0, 340, "default"),
        (341, 681, SHARDS[0]),
        (682, 1023, SHARDS[1]),
    ]
    .into_iter()
    .map(|(from, to, shard)| shards::GeneRange {
        genes: from..=to,
        assignment: shards::Assignment::on(shard.parse().unwrap()),
    })
    .collect::<Vec<_>>();
    shards::ShardMap::from_ranges(2, &ranges).unwrap()
}

/// A fresh PostgreSQL database on `DATABASE_URL`'s server: its URL.
pub async fn fresh_database() -> String {
    let server = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let name = format!("orders_test_{now}_{}", uuid::Uuid::new_v4().simple());
    let mut admin = sqlx::PgConnection::connect(&server).await.unwrap();
    drop_stale_databases(&mut admin, now).await;
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .unwrap();
    let base = server
        .rsplit_once('/')
        .map_or(server.as_str(), |(base, _)| base);
    format!("{base}/{name}")
}

/// Like [`spawn_app`], with settings changed by `configure` (e.g. a short payment timeout).
pub async fn spawn_app_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
    let app = spawn_app().await;
    let mut settings = app.settings.clone();
    configure(&mut settings);
    app.restart_with(settings).await
}

/// Like [`spawn_embedded_app`], with settings changed by `configure`.
pub async fn spawn_embedded_app_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
    let app = spawn_embedded_app().await;
    let mut settings = app.settings.clone();
    configure(&mut settings);
    app.restart_with(settings).await
}

/// Drops test databases that a crashed or failed run left behind.
async fn drop_stale_databases(admin: &mut sqlx::PgConnection, now: u64) {
    let names: Vec<String> =
        sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE 'orders_test_%'")
            .fetch_all(&mut *admin)
            .await
            .unwrap();
    for name in names {
        let created: Option<u64> = name
            .strip_prefix("orders_test_")
            .and_then(|rest| rest.split('_').next())
            .and_then(|secs| secs.parse().ok());
        if created.is_some_and(|created| now.saturating_sub(created) > STALE_DATABASE_AGE_SECS) {
            // another run may drop it at the same time: ignore failures
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut *admin)
                .await;
        }
    }
}

/// The application on a fresh embedded SQLite store.
pub async fn spawn_embedded_app() -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("orders.db").display());
    start(url, Some(dir)).await
}

/// The application on a fresh embedded SQLite store, reading time from `clock` (its services,
/// deadline timer and simulator), with settings changed by `configure`: a test moves the clock
/// instead of sleeping for a deadline.
pub async fn spawn_embedded_app_clocked(
    clock: std::sync::Arc<ids::ManualClock>,
    configure: impl FnOnce(&mut Settings),
) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("orders.db").display());
    let mut settings = test_settings(url);
    configure(&mut settings);
    start_with_clock(settings, Some(dir), Clock::new(clock)).await
}

async fn start(database_url: String, sqlite_dir: Option<tempfile::TempDir>) -> TestApp {
    start_with(test_settings(database_url), sqlite_dir).await
}

fn test_settings(database_url: String) -> Settings {
    let secret = uuid::Uuid::new_v4().to_string();
    Settings {
        database_url,
        // four tests at once, some with two nodes, stay under PostgreSQL's 100 connections
        postgres_max_connections: TEST_POSTGRES_CONNECTIONS_MAX,
        http_addr: "127.0.0.1:0".parse().unwrap(),
        jwt_secret: secret.clone(),
        payment_callback_secret: uuid::Uuid::new_v4().to_string(),
        ..Settings::default()
    }
}

async fn start_with(settings: Settings, sqlite_dir: Option<tempfile::TempDir>) -> TestApp {
    start_with_clock(settings, sqlite_dir, Clock::system()).await
}

async fn start_with_clock(
    settings: Settings,
    sqlite_dir: Option<tempfile::TempDir>,
    clock: Clock,
) -> TestApp {
    let secret = settings.jwt_secret.clone();
    let app = Application::build_with_clock(settings.clone(), clock)
        .await
        .expect("the app starts");
    let address = format!("http://127.0.0.1:{}", app.port());
    let server = app.server_handle();
    let running = tokio::spawn(app.run_until_stopped());
    TestApp {
        address,
        client: reqwest::Client::new(),
        keys: TokenKeys::new(&secret),
        callback_key: CallbackKey::new(&settings.payment_callback_secret),
        secret,
        _sqlite_dir: sqlite_dir,
        settings,
        server,
        running,
    }
}

/// A product to create: (sku, price in cents, initial stock).
pub struct NewProduct<'a> {
    pub sku: &'a str,
    pub price_cents: i64,
    pub stock: u32,
}

impl TestApp {
    /// Stops the server at once and its workers (as a crash or a deploy would), then starts a
    /// new one on the same database with `settings`.
    pub async fn restart_with(self, settings: Settings) -> TestApp {
        let sqlite_dir = self.halt().await;
        start_with(settings, sqlite_dir).await
    }

    /// A second node on the same database, as a load balancer would spread requests over:
    /// its own process state (no stream it has seen yet), the same secret.
    pub async fn another_node(&self) -> TestApp {
        start_with(self.settings.clone(), None).await
    }

    /// Holds an append to the PostgreSQL log open (as a slow writer would): every reader of
    /// the log, the views and reactions too, waits behind it until the transaction ends.
    pub async fn hold_the_log(&self) -> sqlx::Transaction<'static, sqlx::Postgres> {
        let pool = sqlx::PgPool::connect(&self.settings.database_url)
            .await
            .unwrap();
        let mut held = pool.begin().await.unwrap();
        sqlx::query("SELECT pg_advisory_xact_lock_shared($1)")
            .bind(event_store::LOG_WRITER_LOCK)
            .execute(&mut *held)
            .await
            .unwrap();
        sqlx::query(
            "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, \
             event_version, payload, metadata) VALUES ('Sku', 'held', 1, 'Held', '1.0', '{}', '{}')",
        )
        .execute(&mut *held)
        .await
        .unwrap();
        held
    }

    /// Stops the server at once and its workers, and waits until they are gone (their
    /// connections with them).
    pub async fn stop(self) {
        drop(self.halt().await);
    }

    /// Stops the server at once and its workers; answers with the SQLite store's directory,
    /// which a restart needs.
    async fn halt(self) -> Option<tempfile::TempDir> {
        self.server.stop(false).await;
        self.running
            .await
            .expect("the server task ends")
            .expect("the server stops cleanly");
        self._sqlite_dir
    }

    pub fn token(&self, role: Role, subject: &str) -> String {
        let now = chrono::Utc::now().timestamp();
        self.keys.issue(subject, role, now, 3_600).unwrap()
    }

    pub fn buyer(&self, id: &str) -> String {
        self.token(Role::Buyer, id)
    }

    pub fn seller(&self) -> String {
        self.token(Role::Seller, "shop-1")
    }

    /// The `Orders-Signature` the payment provider sends with `body` at `at_secs`.
    pub fn sign_callback(&self, body: &[u8], at_secs: i64) -> String {
        self.callback_key.sign(at_secs, body)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn create_product(&self, product: NewProduct<'_>) -> Value {
        let response = self
            .client
            .post(self.url("/v1/products"))
            .bearer_auth(self.seller())
            .json(&json!({
                "sku": product.sku,
                "title": format!("Product {}", product.sku),
                "price_cents": product.price_cents,
                "initial_stock": product.stock,
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        response.json().await.unwrap()
    }

    pub async fn change_price(&self, sku: &str, price_cents: i64) -> Response {
        self.client
            .put(self.url(&format!("/v1/products/{sku}/price")))
            .bearer_auth(self.seller())
            .json(&json!({ "price_cents": price_cents }))
            .send()
            .await
            .unwrap()
    }

    pub async fn stock(&self, sku: &str) -> Value {
        self.read_side_settled().await;
        let response = self
            .client
            .get(self.url(&format!("/v1/skus/{sku}/stock")))
            .bearer_auth(self.seller())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.unwrap()
    }

    /// `(order_id, checkout_token)` for `buyer`.
    pub async fn checkout(&self, buyer: &str) -> (String, String) {
        let response = self
            .client
            .post(self.url("/v1/checkout"))
            .bearer_auth(self.buyer(buyer))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.unwrap();
        (
            body["order_id"].as_str().unwrap().to_owned(),
            body["checkout_token"].as_str().unwrap().to_owned(),
        )
    }

    /// Places an order of `(sku, quantity, product_version)` lines.
    pub async fn place_order(
        &self,
        buyer: &str,
        order_id: &str,
        token: &str,
        items: &[(&str, u32, u32)],
    ) -> Response {
        let items: Vec<Value> = items
            .iter()
            .map(|(sku, quantity, version)| {
                json!({ "sku": sku, "quantity": quantity, "product_version": version })
            })
            .collect();
        self.client
            .post(self.url("/v1/orders"))
            .bearer_auth(self.buyer(buyer))
            .json(&json!({ "order_id": order_id, "checkout_token": token, "items": items }))
            .send()
            .await
            .unwrap()
    }

    /// `POST /v1/orders/{order_id}/cancel` as `buyer`, with `If-Match: "{version}"`.
    pub async fn cancel_order(&self, buyer: &str, order_id: &str, version: u64) -> Response {
        self.client
            .post(self.url(&format!("/v1/orders/{order_id}/cancel")))
            .bearer_auth(self.buyer(buyer))
            .header("If-Match", format!("\"{version}\""))
            .send()
            .await
            .unwrap()
    }

    /// Checks out and places one order; answers with the placed order.
    pub async fn order(&self, buyer: &str, items: &[(&str, u32, u32)]) -> Value {
        let (order_id, token) = self.checkout(buyer).await;
        let response = self.place_order(buyer, &order_id, &token, items).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        response.json().await.unwrap()
    }

    /// The provider's notification of a payment, signed now with the shared secret.
    pub async fn notify_payment(
        &self,
        order_id: &str,
        txn_id: &str,
        amount_cents: i64,
    ) -> Response {
        let body = notification(order_id, txn_id, amount_cents);
        let signature = self.sign_callback(&body, chrono::Utc::now().timestamp());
        self.notify_raw(body, Some(&signature)).await
    }

    /// `POST /v1/payments/notify` with exactly `body` and `signature` (none: no header).
    pub async fn notify_raw(&self, body: Vec<u8>, signature: Option<&str>) -> Response {
        let mut request = self
            .client
            .post(self.url("/v1/payments/notify"))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body);
        if let Some(signature) = signature {
            request = request.header(SIGNATURE_HEADER, signature);
        }
        request.send().await.unwrap()
    }

    pub async fn get_order(&self, token: &str, order_id: &str) -> Response {
        self.read_side_settled().await;
        self.client
            .get(self.url(&format!("/v1/orders/{order_id}")))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    pub async fn set_logistics(&self, order_id: &str, version: &str, number: &str) -> Response {
        self.client
            .put(self.url(&format!("/v1/orders/{order_id}/logistics")))
            .bearer_auth(self.seller())
            .header("If-Match", version)
            .json(&json!({ "tracking_number": number }))
            .send()
            .await
            .unwrap()
    }

    pub async fn cart(&self, buyer: &str) -> Value {
        self.client
            .get(self.url("/v1/cart"))
            .bearer_auth(self.buyer(buyer))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

/// A payment notification's body, as the provider sends it.
pub fn notification(order_id: &str, txn_id: &str, amount_cents: i64) -> Vec<u8> {
    serde_json::to_vec(
        &json!({ "order_id": order_id, "txn_id": txn_id, "amount_cents": amount_cents }),
    )
    .unwrap()
}

/// The response's ETag.
pub fn etag(response: &Response) -> String {
    response.headers()["etag"].to_str().unwrap().to_owned()
}

/// Polls `check` until it returns `Some` (read models and reactions lag their commands).
pub async fn eventually<T, F, Fut>(mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    for _ in 0..100 {
        if let Some(value) = check().await {
            return value;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the condition did not hold within 5 s");
}

/// Runs `$run` with `$db` a connection to `$app`'s database, SQLite or PostgreSQL: the
/// statement text is the same, the connection types differ.
macro_rules! on_app_database {
    ($app:expr, |$db:ident| $run:expr) => {{
        let url = &$app.settings.database_url;
        if url.starts_with("sqlite:") {
            let mut $db = sqlx::SqliteConnection::connect(url)
                .await
                .expect("the SQLite file opens");
            $run
        } else {
            let mut $db = sqlx::PgConnection::connect(url)
                .await
                .expect("the database answers");
            $run
        }
    }};
}

/// Helpers of the read side: its views lag the commands, so reads wait for what they expect.
impl TestApp {
    /// The stock view of `sku` once it exists and `settled` holds for it.
    pub async fn stock_when(&self, sku: &str, settled: impl Fn(&Value) -> bool) -> Value {
        eventually(|| async {
            let response = self
                .client
                .get(self.url(&format!("/v1/skus/{sku}/stock")))
                .bearer_auth(self.seller())
                .send()
                .await
                .unwrap();
            if response.status() != StatusCode::OK {
                return None;
            }
            let stock: Value = response.json().await.unwrap();
            settled(&stock).then_some(stock)
        })
        .await
    }

    /// Waits until every projection has applied everything committed before this call, so
    /// that a read after it sees the caller's earlier writes (the views lag the commands).
    pub async fn read_side_settled(&self) {
        const BEHIND_PG: &str = "SELECT count(*) FROM projection_checkpoints c \
             WHERE c.projection IN ('orders', 'stock') AND NOT EXISTS (SELECT 1 FROM events e \
             WHERE (e.txid, e.position) > (c.txid::text::xid8, c.position))";
        const BEHIND_SQLITE: &str = "SELECT count(*) FROM projection_checkpoints c \
             WHERE c.projection IN ('orders', 'stock') AND NOT EXISTS (SELECT 1 FROM events e \
             WHERE e.position > c.position)";
        for url in self.databases() {
            eventually(|| async {
                let settled: i64 = if url.starts_with("sqlite:") {
                    let mut db = sqlx::SqliteConnection::connect(&url).await.unwrap();
                    sqlx::query_scalar(BEHIND_SQLITE)
                        .fetch_one(&mut db)
                        .await
                        .unwrap()
                } else {
                    let mut db = sqlx::PgConnection::connect(&url).await.unwrap();
                    sqlx::query_scalar(BEHIND_PG)
                        .fetch_one(&mut db)
                        .await
                        .unwrap()
                };
                (settled == 2).then_some(())
            })
            .await;
        }
        // with shards, each log's `sellers` follower copies to the seller views (ADR 45)
        const SELLERS_BEHIND: &str = "SELECT count(*) FROM events e WHERE NOT EXISTS \
             (SELECT 1 FROM subscription_checkpoints c WHERE c.name = 'sellers' \
             AND (e.txid, e.position) <= (c.txid::text::xid8, c.position))";
        if self.settings.shards.is_empty() {
            return;
        }
        for url in self.databases() {
            eventually(|| async {
                let mut db = sqlx::PgConnection::connect(&url).await.unwrap();
                let settled: i64 = sqlx::query_scalar(SELLERS_BEHIND)
                    .fetch_one(&mut db)
                    .await
                    .unwrap();
                (settled == 0).then_some(())
            })
            .await;
        }
    }

    /// The URLs of the app's databases: its `database_url`, then every shard's.
    pub fn databases(&self) -> Vec<String> {
        std::iter::once(self.settings.database_url.clone())
            .chain(self.settings.shards.iter().map(|(_, url)| url.to_owned()))
            .collect()
    }

    /// Runs `sql` on the app's database, PostgreSQL or SQLite alike (one statement text).
    pub async fn execute_sql(&self, sql: &str) {
        on_app_database!(self, |db| {
            sqlx::query(sql)
                .execute(&mut db)
                .await
                .expect("the statement runs");
        });
    }

    /// The one integer that `sql` selects from the app's database (PostgreSQL or SQLite);
    /// with shards, the sum over every shard's database (a count of the whole system).
    pub async fn scalar(&self, sql: &str) -> i64 {
        let mut sum = on_app_database!(self, |db| sqlx::query_scalar::<_, i64>(sql)
            .fetch_one(&mut db)
            .await
            .expect("the query runs"));
        for (_, url) in self.settings.shards.iter() {
            let mut db = sqlx::PgConnection::connect(url)
                .await
                .expect("the database answers");
            let of_shard: i64 = sqlx::query_scalar(sql)
                .fetch_one(&mut db)
                .await
                .expect("the query runs");
            sum += of_shard;
        }
        sum
    }

    /// `GET /v1/orders/{id}?min_version=…`: waits (bounded, server side) for that version.
    pub async fn get_order_at(&self, token: &str, order_id: &str, min_version: u64) -> Response {
        self.client
            .get(self.url(&format!("/v1/orders/{order_id}?min_version={min_version}")))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    /// `GET /v1/{who}/me/orders?{query}` with `token` (`who` is `buyers` or `sellers`).
    pub async fn my_orders(&self, who: &str, token: &str, query: &str) -> Response {
        self.client
            .get(self.url(&format!("/v1/{who}/me/orders?{query}")))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    /// One page of `who`'s (`buyers` or `sellers`) orders, which must be answered 200.
    pub async fn orders_page(&self, who: &str, token: &str, query: &str) -> Value {
        let response = self.my_orders(who, token, query).await;
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.unwrap()
    }

    /// The body of `GET path`, as text, whatever the status.
    pub async fn text(&self, path: &str) -> String {
        let response = self.client.get(self.url(path)).send().await;
        let response = response.expect("the server answers");
        response.text().await.expect("the body is text")
    }

    /// The server's `/metrics` text once it holds `needle` (metrics of workers lag their
    /// effects).
    pub async fn metrics_with(&self, needle: &str) -> String {
        eventually(|| async {
            let text = self.text("/metrics").await;
            text.contains(needle).then_some(text)
        })
        .await
    }

    /// The OpenAPI document the server serves.
    pub async fn openapi(&self) -> Value {
        self.client
            .get(self.url("/openapi.json"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

/// The order ids of a list page, in order.
pub fn page_ids(page: &Value) -> Vec<String> {
    page["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["order_id"].as_str().unwrap().to_owned())
        .collect()
}

/// The version in an ETag such as `"3"`.
pub fn etag_version(response: &Response) -> u64 {
    etag(response).trim_matches('"').parse().unwrap()
}

/// The `orders` binary beside this test's own executable (`target/debug/deps/…`): the
/// workspace's test run builds it.
pub fn orders_bin() -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let bin = exe
        .parent()
        .and_then(|deps| deps.parent())
        .map(|dir| dir.join("orders"))
        .unwrap();
    assert!(
        bin.exists(),
        "the orders binary is not built at {}: scripts/test builds it with the workspace",
        bin.display()
    );
    bin
}
