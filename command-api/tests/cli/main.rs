//! The `orders` command line as an operator meets it:
//! - errors say what failed and where, once: the setting as written and the file, the address
//!   in use, the database that refused (promptly, not as a pool timeout), the folder;
//! - reconcile's exit codes: 0 clean, 1 differences, 2 could not run (unreachable, not
//!   migrated), and no false differences beside a server that keeps placing orders;
//! - the commands that read never migrate, and PostgreSQL's notices stay out of the output;
//! - progress into a pipe is plain lines, without carriage returns.

use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use command_api::auth::{Role, TokenKeys};

#[path = "../placing/mod.rs"]
mod placing;
mod reconcile;
mod status;

const SECRET: &str = "cli-test-secret";

/// The binary with `args` and `env`, the environment's own settings left out.
fn orders(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_orders"))
        .args(args)
        .env_remove("NATS_URL")
        .env_remove("DATABASE_URL")
        .env_remove("RUST_LOG")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("the orders binary runs")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

fn sqlite_url(dir: &tempfile::TempDir) -> String {
    format!("sqlite:{}", dir.path().join("orders.db").display())
}

#[test]
fn a_bad_value_is_named_as_the_user_wrote_it_and_where() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let db = sqlite_url(&dir);
    let flag = orders(
        &[
            "serve",
            "--database-url",
            &db,
            "--payment-timeout-secs",
            "soon",
        ],
        &[],
    );
    assert_eq!(flag.status.code(), Some(1));
    assert!(
        stderr(&flag).starts_with(
            "orders: invalid setting --payment-timeout-secs in the command line: invalid type: \
             found string \"soon\", expected u64"
        ),
        "{}",
        stderr(&flag)
    );
    let env = orders(
        &["serve", "--database-url", &db],
        &[("ORDERS_PAYMENT_TIMEOUT_SECS", "soon")],
    );
    assert!(
        stderr(&env).starts_with(
            "orders: invalid setting ORDERS_PAYMENT_TIMEOUT_SECS in the environment: "
        ),
        "{}",
        stderr(&env)
    );
    let file = dir.path().join("orders.toml");
    std::fs::write(&file, "payment_timeout_secs = \"soon\"\n").expect("the file is written");
    let path = file.display().to_string();
    let in_file = orders(&["serve", "--database-url", &db, "--config", &path], &[]);
    assert!(
        stderr(&in_file).starts_with(&format!(
            "orders: invalid setting payment_timeout_secs in {path}: "
        )),
        "{}",
        stderr(&in_file)
    );
    assert_eq!(stderr(&in_file).matches("expected u64").count(), 1);
}

#[test]
fn an_address_in_use_is_named_once() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let addr = taken.local_addr().expect("its address").to_string();
    let output = orders(
        &[
            "serve",
            "--database-url",
            &sqlite_url(&dir),
            "--http-addr",
            &addr,
        ],
        &[],
    );
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    let last = err.trim_end().lines().last().unwrap_or_default();
    assert!(
        last.starts_with(&format!(
            "orders: cannot listen on {addr}: Address already in use"
        )),
        "{err}"
    );
    assert_eq!(err.matches("already in use").count(), 1, "{err}");
}

#[test]
fn a_folder_that_cannot_be_made_is_named() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let file = dir.path().join("a-file");
    std::fs::write(&file, "").expect("the file is written");
    let url = format!("sqlite:{}/data/orders.db", file.display());
    let output = orders(&["migrate", "--database-url", &url], &[]);
    assert_eq!(output.status.code(), Some(1));
    let expected = format!(
        "orders: cannot create the folder {}/data of the event store: ",
        file.display()
    );
    assert!(
        stderr(&output).starts_with(&expected),
        "{}",
        stderr(&output)
    );
}

/// Nothing listens on port 1: the connection is refused at once, and said so once, with the
/// URL.
#[test]
fn an_unreachable_database_is_named_and_refused_promptly_with_exit_code_2() {
    let url = "postgres://postgres:s3cret@127.0.0.1:1/orders";
    let started = Instant::now();
    let output = orders(&["reconcile", "--database-url", url], &[]);
    let took = started.elapsed();
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let err = stderr(&output);
    assert!(
        err.contains("postgres://postgres:***@127.0.0.1:1/orders"),
        "{err}"
    );
    assert_eq!(err.matches("Connection refused").count(), 1, "{err}");
    assert!(!err.contains("s3cret"), "{err}");
    assert!(took < Duration::from_secs(3), "took {took:?}: {err}");
}

/// A read-only command on a store that does not exist says so and creates nothing (no
/// folder, no file); on a store nobody migrated it says which migration is missing, and
/// leaves the store as it found it. Either way it could not run: exit 2.
#[test]
fn reading_commands_never_migrate_and_name_the_missing_migration() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let folder = dir.path().join("data");
    let missing = format!("sqlite:{}", folder.join("orders.db").display());
    let empty = sqlite_url(&dir);
    let reading = |db: &str| -> Vec<Vec<String>> {
        [
            &["reconcile", "--database-url", db][..],
            &["status", "--database-url", db],
            &["audit", "--database-url", db, "1"],
            &["dead-letters", "list", "--database-url", db],
            &["shards", "--database-url", db],
        ]
        .iter()
        .map(|args| args.iter().map(|a| (*a).to_owned()).collect())
        .collect()
    };
    for args in reading(&missing) {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let output = orders(&args, &[]);
        let err = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains(&format!("there is no event store at {missing}: ")),
            "{args:?}: {err}"
        );
        assert!(!folder.exists(), "{args:?} made {}", folder.display());
    }
    std::fs::write(dir.path().join("orders.db"), "").expect("an empty database file");
    for args in reading(&empty) {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let output = orders(&args, &[]);
        let err = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains("lacks migration 1 (") && err.contains("run `orders migrate`"),
            "{args:?}: {err}"
        );
    }
    let migrated = orders(&["migrate", "--database-url", &empty], &[]);
    assert!(migrated.status.success(), "{}", stderr(&migrated));
    let clean = orders(&["reconcile", "--database-url", &empty], &[]);
    assert_eq!(clean.status.code(), Some(0), "{}", stderr(&clean));
}

/// `CREATE TABLE IF NOT EXISTS` on a migrated database makes PostgreSQL send a NOTICE, which
/// sqlx logged on every run of the command line; and sqlx warns of every statement that takes
/// over a second, which a command reading the whole log runs by design. Here the command's
/// first statement waits for a lock the test holds.
#[tokio::test]
async fn no_postgres_notice_nor_slow_statement_warning_reaches_the_output() {
    let url = fresh_postgres().await;
    for _ in 0..2 {
        let output = orders(&["migrate", "--database-url", &url], &[]);
        assert!(output.status.success(), "{}", stderr(&output));
        let err = stderr(&output);
        assert!(!err.to_lowercase().contains("notice"), "{err}");
        assert!(!err.contains("already exists"), "{err}");
    }
    let pool = sqlx::PgPool::connect(&url).await.expect("connects");
    let mut lock = pool.begin().await.expect("a transaction");
    sqlx::query("LOCK TABLE _sqlx_migrations IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *lock)
        .await
        .expect("the lock is taken");
    let status = tokio::task::spawn_blocking({
        let url = url.clone();
        move || orders(&["status", "--database-url", &url], &[])
    });
    tokio::time::sleep(Duration::from_millis(SLOW_STATEMENT_MS + 500)).await;
    lock.rollback().await.expect("the lock is let go");
    let output = status.await.expect("status ran");
    assert!(output.status.success(), "{}", stderr(&output));
    let err = stderr(&output);
    assert!(!err.contains("slow statement"), "{err}");
    assert!(!err.contains("WARN"), "{err}");
    pool.close().await;
    drop_database(&url).await;
}

/// sqlx's threshold of a slow statement.
const SLOW_STATEMENT_MS: u64 = 1_000;

/// A new, empty PostgreSQL database of its own.
async fn fresh_postgres() -> String {
    let admin = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let name = format!("cli_{}", uuid::Uuid::new_v4().simple());
    let pool = sqlx::PgPool::connect(&admin)
        .await
        .expect("the test's PostgreSQL answers");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&pool)
        .await
        .expect("a database is created");
    match admin.rfind('/') {
        Some(slash) => format!("{}/{name}", &admin[..slash]),
        None => panic!("no database in {admin}"),
    }
}

/// Runs `orders <command>` on a freshly migrated embedded store; its stderr, once it succeeded.
fn on_a_migrated_store(command: &str) -> String {
    stderr(&on_a_migrated_store_output(command))
}

/// Runs `orders <command>` on a freshly migrated embedded store; its output, once it
/// succeeded.
fn on_a_migrated_store_output(command: &str) -> Output {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let db = sqlite_url(&dir);
    let migrated = orders(&["migrate", "--database-url", &db], &[]);
    assert!(migrated.status.success(), "{}", stderr(&migrated));
    let output = orders(&[command, "--database-url", &db], &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    output
}

/// Progress into a file or a pipe: lines, not carriage returns.
#[test]
fn replay_progress_into_a_pipe_is_plain_lines() {
    let err = on_a_migrated_store("replay");
    assert!(!err.contains('\r'), "{err:?}");
    assert!(
        err.lines()
            .any(|l| l == "orders: orders rebuilt from 0 events and swapped in"),
        "{err}"
    );
    assert!(
        err.lines()
            .any(|l| l.starts_with("orders: replaying stock: ")),
        "{err}"
    );
}

/// Archive counts what it will move before it starts: its progress has a total.
#[test]
fn archive_says_how_many_orders_it_will_move_first() {
    let err = on_a_migrated_store("archive");
    assert!(
        err.lines().any(
            |l| l.starts_with("orders: 0 settled orders last changed before ")
                && l.ends_with(" to archive")
        ),
        "{err}"
    );
}

/// A server process, killed when dropped: also when an assertion fails first, since a server
/// left running would outlive the test run (and hold whatever the run held).
struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        // already gone is fine: there is nothing left to stop
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn token(subject: &str, role: Role) -> String {
    TokenKeys::new(SECRET)
        .issue(subject, role, chrono::Utc::now().timestamp(), 3_600)
        .expect("a token is signed")
}

/// Places one-unit orders until told to stop, counting the placed ones.
async fn place_until(base: String, buyer: String, stop: Arc<AtomicBool>, placed: Arc<AtomicU64>) {
    let client = reqwest::Client::new();
    let buyer_token = token(&buyer, Role::Buyer);
    while !stop.load(Ordering::Relaxed) {
        match placing::place_tea(&client, &base, &buyer_token).await {
            Some((_, true)) => {
                placed.fetch_add(1, Ordering::Relaxed);
            }
            Some((_, false)) => {}
            None => return,
        }
    }
}

/// `orders serve` on the store `db`, once ready, and its address.
async fn serve(db: &str) -> (Server, String) {
    serve_with(db, &[]).await
}

/// [`serve`] with the settings of `env` besides.
async fn serve_with(db: &str, env: &[(&str, &str)]) -> (Server, String) {
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let server = Server(
        Command::new(env!("CARGO_BIN_EXE_orders"))
            .arg("serve")
            .env_remove("NATS_URL")
            .env_remove("RUST_LOG")
            .env("DATABASE_URL", db)
            .env("ORDERS_HTTP_ADDR", format!("127.0.0.1:{port}"))
            .env("ORDERS_JWT_SECRET", SECRET)
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the server starts"),
    );
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !client
        .get(format!("{base}/readyz"))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
    {
        assert!(Instant::now() < deadline, "the server did not get ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (server, base)
}

/// The server measures every acquire of a pooled connection (sqlx's acquire events feed
/// `/metrics`), whatever the log's filter.
#[tokio::test]
async fn the_served_metrics_count_the_pools_acquires() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let (_server, base) = serve(&sqlite_url(&dir)).await;
    let text = reqwest::get(format!("{base}/metrics"))
        .await
        .expect("metrics answer")
        .text()
        .await
        .expect("a body");
    let acquires: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("db_pool_acquire_seconds_count "))
        .unwrap_or_else(|| panic!("no acquire count in\n{text}"))
        .parse()
        .expect("a number");
    assert!(acquires >= 1.0, "{acquires}");
    assert!(
        text.lines().any(|l| l.starts_with("db_pool_waits_total ")),
        "{text}"
    );
}

/// `orders shards` on the embedded store: one shard, no map.
#[test]
fn shards_on_sqlite_is_one_shard_with_no_map() {
    let output = on_a_migrated_store_output("shards");
    assert!(
        stdout(&output).contains("is one shard, default, with no map"),
        "{}",
        stdout(&output)
    );
}

/// `orders shards` reads the map without migrating, names a shard the map routes to that no
/// configuration gives a database (exit 2), and says which configured shard it cannot reach
/// (exit 1) without showing its password.
#[tokio::test]
async fn shards_prints_the_map_and_checks_every_shard() {
    let url = fresh_postgres().await;
    let unmigrated = orders(&["shards", "--database-url", &url], &[]);
    assert_eq!(unmigrated.status.code(), Some(2), "{}", stderr(&unmigrated));
    assert!(stderr(&unmigrated).contains("lacks migration 1 ("));
    let migrated = orders(&["migrate", "--database-url", &url], &[]);
    assert!(migrated.status.success(), "{}", stderr(&migrated));

    let single = orders(&["shards", "--database-url", &url], &[]);
    assert_eq!(single.status.code(), Some(0), "{}", stderr(&single));
    let text = stdout(&single);
    assert!(
        text.starts_with("shard map version 1 (never written"),
        "{text}"
    );
    assert!(text.contains("0-1023      default"), "{text}");

    let pool = sqlx::PgPool::connect(&url).await.expect("connects");
    let catalog = shards::MapStore::new(pool.clone());
    let s2: shards::ShardName = "s2".parse().expect("a shard name");
    let moved = catalog
        .newest()
        .await
        .expect("read")
        .with_reads_on(0..=511, &s2)
        .expect("in range");
    catalog
        .publish(&moved, "reads of 0-511 on s2")
        .await
        .expect("publish");
    pool.close().await;

    let missing = orders(&["shards", "--database-url", &url], &[]);
    assert_eq!(missing.status.code(), Some(2), "{}", stderr(&missing));
    let text = stdout(&missing);
    assert!(
        text.starts_with("shard map version 2, written ") && text.contains(": reads of 0-511"),
        "{text}"
    );
    assert!(
        text.contains("error: the map names shard s2, which is not configured"),
        "{text}"
    );

    let second = fresh_postgres().await;
    let configured = orders(
        &[
            "shards",
            "--database-url",
            &url,
            "--shard",
            &format!("s2={second}"),
            "--json",
        ],
        &[],
    );
    assert_eq!(configured.status.code(), Some(0), "{}", stderr(&configured));
    let report: serde_json::Value =
        serde_json::from_str(&stdout(&configured)).expect("a JSON report");
    assert_eq!(report["version"], 2);
    assert_eq!(report["ranges"][0]["read"], "s2");
    assert_eq!(report["ranges"][0]["write"], "default");
    assert_eq!(report["shards"][1]["name"], "s2");
    assert_eq!(report["shards"][1]["in_map"], true);
    assert_eq!(report["shards"][1]["unreachable"], serde_json::Value::Null);

    let dead = "s3=postgres://postgres:s3cret@127.0.0.1:1/orders";
    let shards = format!("s2={second},{dead}");
    let unreachable = orders(
        &["shards", "--database-url", &url],
        &[("ORDERS_SHARDS", &shards)],
    );
    assert_eq!(
        unreachable.status.code(),
        Some(1),
        "{}",
        stderr(&unreachable)
    );
    let text = stdout(&unreachable);
    assert!(text.contains("unreachable: "), "{text}");
    assert!(stderr(&unreachable).contains("s3 unreachable"));
    assert!(!text.contains("s3cret") && !stderr(&unreachable).contains("s3cret"));
    drop_database(&url).await;
    drop_database(&second).await;
}

/// Drops the database of `url`, made by [`fresh_postgres`].
async fn drop_database(url: &str) {
    let Some((server, name)) = url.rsplit_once('/') else {
        return;
    };
    let admin = sqlx::PgPool::connect(&format!("{server}/postgres"))
        .await
        .expect("the test's PostgreSQL answers");
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&admin)
        .await
        .expect("the database is dropped");
}
