//! The real binary as a process:
//! - SIGTERM under load, several times over: the server exits well within its grace period
//!   although its clients keep their keep-alive connections busy, logs no error on the way
//!   out, and every order it acknowledged is in the log afterwards;
//! - a flood of bad requests is answered and not logged above debug level;
//! - every answer is one line of the access log, which `RUST_LOG` turns off;
//! - a node plays only its roles, and `orders status` shows what it holds.
#![allow(clippy::unwrap_used, clippy::expect_used, unreachable_pub)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use command_api::auth::{Role, TokenKeys};
use command_api::config::Settings;
use command_api::startup::open_store;
use serde_json::{Value, json};

mod placing;

const SECRET: &str = "graceful-shutdown-test-secret";
const GRACE_SECS: u64 = 10;
/// The server must be gone this long after SIGTERM: half its grace period, which a server
/// that waits for its busy keep-alive connections to go quiet runs out.
const EXIT_WITHIN: Duration = Duration::from_secs(GRACE_SECS / 2);
const ROUNDS: usize = 3;
const CLIENTS: usize = 8;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start(database_url: &str, port: u16, log: &Path) -> Child {
    start_with(database_url, port, log, &[])
}

fn start_with(database_url: &str, port: u16, log: &Path, env: &[(&str, &str)]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_orders"))
        .arg("serve")
        // the embedded setup: no NATS unless a test asks for it
        .env_remove("NATS_URL")
        .env("DATABASE_URL", database_url)
        .env("ORDERS_HTTP_ADDR", format!("127.0.0.1:{port}"))
        .env("ORDERS_JWT_SECRET", SECRET)
        .env("ORDERS_PAYMENT_CALLBACK_SECRET", SECRET)
        .env_remove("RUST_LOG")
        .env("ORDERS_SHUTDOWN_GRACE_SECS", GRACE_SECS.to_string())
        .env("ORDERS_LOG_FORMAT", "json")
        // last, so that a test can set any of the above (RUST_LOG included)
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .expect("the orders binary starts")
}

async fn wait_ready(client: &reqwest::Client, base: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(res) = client.get(format!("{base}/readyz")).send().await
            && res.status().is_success()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the server at {base} did not get ready");
}

fn token(subject: &str, role: Role) -> String {
    TokenKeys::new(SECRET)
        .issue(subject, role, chrono::Utc::now().timestamp(), 3_600)
        .unwrap()
}

/// Checks out and places one-unit orders until the server stops answering; records every
/// order whose placement was acknowledged (2xx).
async fn place_until_refused(base: String, buyer: String, acknowledged: Arc<Mutex<Vec<String>>>) {
    let client = reqwest::Client::new();
    let buyer_token = token(&buyer, Role::Buyer);
    while let Some((order_id, placed)) = placing::place_tea(&client, &base, &buyer_token).await {
        if placed {
            let id = order_id
                .as_str()
                .map_or_else(|| order_id.to_string(), str::to_owned);
            acknowledged.lock().unwrap().push(id);
        }
    }
}

fn terminate(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

async fn wait_exit(child: &mut Child, within: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

#[tokio::test]
async fn sigterm_under_load_exits_in_time_and_loses_no_acknowledged_order() {
    let dir = tempfile::tempdir().unwrap();
    let database_url = format!("sqlite:{}", dir.path().join("orders.db").display());
    let client = reqwest::Client::new();
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    for round in 0..ROUNDS {
        let port = free_port();
        let base = format!("http://127.0.0.1:{port}");
        let log = dir.path().join(format!("server-{round}.log"));
        let mut server = start(&database_url, port, &log);
        wait_ready(&client, &base).await;
        if round == 0 {
            placing::create_tea(&client, &base, &token("shop-1", Role::Seller)).await;
        }
        let before = acknowledged.lock().unwrap().len();
        let clients: Vec<_> = (0..CLIENTS)
            .map(|n| {
                tokio::spawn(place_until_refused(
                    base.clone(),
                    format!("buyer-{round}-{n}"),
                    Arc::clone(&acknowledged),
                ))
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        let placed = acknowledged.lock().unwrap().len() - before;
        assert!(
            placed > 0,
            "round {round}: no order placed before the signal"
        );

        terminate(&server);
        let signalled = Instant::now();
        let status = wait_exit(&mut server, EXIT_WITHIN).await;
        let took = signalled.elapsed();
        if status.is_none() {
            server.kill().unwrap();
        }
        let status = status.unwrap_or_else(|| {
            panic!("round {round}: still running {took:?} after SIGTERM, under load")
        });
        assert!(status.success(), "round {round}: exited with {status}");
        for client in clients {
            client.await.unwrap();
        }
        let logged = std::fs::read_to_string(&log).unwrap();
        for line in logged.lines() {
            assert!(
                !line.contains(r#""level":"ERROR""#) && !line.contains("being shutdown"),
                "round {round}: the shutdown logged {line}"
            );
        }
    }

    let settings = Settings {
        database_url,
        ..Settings::default()
    };
    let store = open_store(&settings).await.unwrap();
    let acknowledged = acknowledged.lock().unwrap().clone();
    for id in &acknowledged {
        let events = store.read_stream("Order", id).await.unwrap();
        assert!(
            events.iter().any(|e| e.event_type == "OrderPlaced"),
            "order {id} was acknowledged but is not in the log: {:?}",
            events.iter().map(|e| &e.event_type).collect::<Vec<_>>()
        );
    }
}

/// Bad requests of every kind, many times over: each is answered with its 4xx, and none
/// writes a line above debug level (there used to be a WARN per 401 and per malformed body,
/// and an ERROR per request that is not HTTP). Their access-log lines are at debug level too,
/// while the answered readiness probe's is at info: the access log is on, and quiet for 4xx.
#[tokio::test]
async fn a_flood_of_bad_requests_is_answered_and_not_logged() {
    use std::io::{Read, Write};

    const ROUNDS: usize = 20;
    let dir = tempfile::tempdir().unwrap();
    let database_url = format!("sqlite:{}", dir.path().join("orders.db").display());
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let log = dir.path().join("server.log");
    let mut server = start(&database_url, port, &log);
    let client = reqwest::Client::new();
    wait_ready(&client, &base).await;
    let buyer = format!("Bearer {}", token("b-1", Role::Buyer));
    for _ in 0..ROUNDS {
        let unauthenticated = client.get(format!("{base}/v1/cart")).send().await.unwrap();
        assert_eq!(unauthenticated.status(), 401);
        let malformed = client
            .post(format!("{base}/v1/orders"))
            .header("Authorization", &buyer)
            .header("Content-Type", "application/json")
            .body("{not json")
            .send()
            .await
            .unwrap();
        assert_eq!(malformed.status(), 400);
        let forbidden = client
            .post(format!("{base}/v1/products"))
            .header("Authorization", &buyer)
            .json(&json!({"sku": "x", "title": "x", "price_cents": 1, "initial_stock": 1}))
            .send()
            .await
            .unwrap();
        assert_eq!(forbidden.status(), 403);
        let mut raw = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        raw.write_all(b"GET /v1/cart HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n")
            .unwrap();
        let mut answer = [0_u8; 12];
        raw.read_exact(&mut answer).unwrap();
        assert_eq!(&answer, b"HTTP/1.1 400");
    }
    terminate(&server);
    let status = wait_exit(&mut server, Duration::from_secs(GRACE_SECS)).await;
    assert!(status.is_some_and(|s| s.success()), "{status:?}");
    let logged = std::fs::read_to_string(&log).unwrap();
    let loud: Vec<_> = logged
        .lines()
        .filter(|line| {
            let parsed: Value = serde_json::from_str(line).unwrap_or_default();
            let client_error = parsed["fields"]["status"]
                .as_u64()
                .is_some_and(|status| (400..500).contains(&status));
            line.contains(r#""level":"ERROR""#)
                || line.contains(r#""level":"WARN""#)
                || (parsed["level"] == "INFO" && client_error)
        })
        .collect();
    assert!(loud.is_empty(), "bad requests were logged: {loud:#?}");
    assert!(
        access_lines(&logged)
            .iter()
            .any(|line| line["level"] == "INFO" && line["fields"]["route"] == "/readyz"),
        "the readiness probe's answer is not in the access log:\n{logged}"
    );
}

/// The lines of the access log (target `orders::access`) in a JSON log.
fn access_lines(logged: &str) -> Vec<Value> {
    logged
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line["target"] == "orders::access")
        .collect()
}

/// Each answer is one line of the access log, naming its method, route pattern, status,
/// duration and request id: at info level, a client error's at debug; `orders::access=off`
/// in `RUST_LOG` turns the access log off and nothing else.
#[tokio::test]
async fn every_answer_is_one_access_log_line_which_rust_log_turns_off() {
    let dir = tempfile::tempdir().unwrap();
    let database_url = format!("sqlite:{}", dir.path().join("orders.db").display());
    let client = reqwest::Client::new();
    let mut logs = Vec::new();
    for (run, filter) in ["info,orders::access=debug", "info,orders::access=off"]
        .into_iter()
        .enumerate()
    {
        let port = free_port();
        let base = format!("http://127.0.0.1:{port}");
        let log = dir.path().join(format!("server-{run}.log"));
        let mut server = start_with(&database_url, port, &log, &[("RUST_LOG", filter)]);
        wait_ready(&client, &base).await;
        let get = |path: &str, id: &str| {
            client
                .get(format!("{base}{path}"))
                .header("X-Request-Id", format!("{id}-{run}"))
                .send()
        };
        assert_eq!(get("/readyz", "ready").await.unwrap().status(), 200);
        assert_eq!(get("/v1/cart", "refused").await.unwrap().status(), 401);
        let order = get("/v1/orders/1001", "no-token").await.unwrap();
        assert_eq!(order.status(), 401);
        terminate(&server);
        let status = wait_exit(&mut server, Duration::from_secs(GRACE_SECS)).await;
        assert!(status.is_some_and(|s| s.success()), "{status:?}");
        logs.push(std::fs::read_to_string(&log).unwrap());
    }

    let lines = access_lines(&logs[0]);
    let of = |id: &str| -> Vec<&Value> {
        lines
            .iter()
            .filter(|line| line["fields"]["request_id"] == id)
            .collect()
    };
    for (id, level, method, route, status) in [
        ("ready-0", "INFO", "GET", "/readyz", 200),
        ("refused-0", "DEBUG", "GET", "/v1/cart", 401),
        ("no-token-0", "DEBUG", "GET", "/v1/orders/{order_id}", 401),
    ] {
        let found = of(id);
        assert_eq!(found.len(), 1, "{id}: {found:#?}");
        let line = found[0];
        assert_eq!(line["level"], level, "{line}");
        assert_eq!(line["fields"]["method"], method, "{line}");
        assert_eq!(line["fields"]["route"], route, "{line}");
        assert_eq!(line["fields"]["status"], status, "{line}");
        assert!(line["fields"]["duration_ms"].as_f64().is_some(), "{line}");
    }
    assert_eq!(access_lines(&logs[1]), Vec::<Value>::new());
    assert!(
        logs[1].contains("serving"),
        "only the access log is off:\n{}",
        logs[1]
    );
}

/// A node runs only its roles: a projector answers health, readiness (naming its roles and
/// the leases of its projections) and metrics, and no API route.
#[tokio::test]
async fn a_node_plays_only_its_roles() {
    let dir = tempfile::tempdir().unwrap();
    let database_url = format!("sqlite:{}", dir.path().join("orders.db").display());
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let log = dir.path().join("server.log");
    let mut server = start_with(&database_url, port, &log, &[("ORDERS_ROLES", "projector")]);
    let client = reqwest::Client::new();
    wait_ready(&client, &base).await;
    // a projector's three leases: its two projections and the archiver, taken one by one
    let deadline = Instant::now() + Duration::from_secs(10);
    let ready = loop {
        let ready: Value = client
            .get(format!("{base}/readyz"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if ready["leases"].as_array().is_some_and(|l| l.len() >= 3) || Instant::now() > deadline {
            break ready;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["roles"], json!(["projector"]));
    let leases: Vec<&str> = ready["leases"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(leases.contains(&"projection:orders"), "{leases:?}");
    assert!(leases.contains(&"archiver"), "{leases:?}");
    assert!(
        !leases.iter().any(|l| l.starts_with("reaction:")),
        "{leases:?}"
    );
    let metrics = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"node_role{role="projector"} 1"#),
        "{metrics}"
    );
    assert!(metrics.contains(r#"node_role{role="api"} 0"#), "{metrics}");
    assert!(metrics.contains(r#"lease_held{lease="projection:orders",shard="default"} 1"#));
    let api = client
        .get(format!("{base}/v1/cart"))
        .header(
            "Authorization",
            format!("Bearer {}", token("b-1", Role::Buyer)),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 404);
    // the status report shows the projections held by this node, and no reaction held
    let report = Command::new(env!("CARGO_BIN_EXE_orders"))
        .args(["status", "--json", "--database-url", &database_url])
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    assert!(report.status.success(), "{report:?}");
    let report: Value = serde_json::from_slice(&report.stdout).unwrap();
    let held: Vec<(&str, bool)> = report["followers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["name"].as_str().unwrap(), f["holder"].is_string()))
        .collect();
    assert!(held.contains(&("projection:orders", true)), "{held:?}");
    assert!(held.contains(&("projection:stock", true)), "{held:?}");
    assert!(
        !held
            .iter()
            .any(|(name, held)| name.starts_with("reaction:") && *held),
        "{held:?}"
    );
    terminate(&server);
    let status = wait_exit(&mut server, Duration::from_secs(GRACE_SECS)).await;
    assert!(status.is_some_and(|s| s.success()), "{status:?}");
}

/// An unknown role is refused at start, naming it.
#[test]
fn an_unknown_role_is_refused_naming_it() {
    let output = Command::new(env!("CARGO_BIN_EXE_orders"))
        .args(["serve", "--role", "api,projecter"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("projecter"), "{stderr}");
}

/// A typo in the configuration file stops the start, naming the key, the file and the
/// setting it was probably meant to be, once.
#[test]
fn an_unknown_key_in_the_config_file_is_refused_naming_it_and_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("orders.toml");
    std::fs::write(&file, "http_adr = \"127.0.0.1:0\"\n").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_orders"))
        .args(["serve", "--config"])
        .arg(&file)
        .env(
            "DATABASE_URL",
            format!("sqlite:{}", dir.path().join("orders.db").display()),
        )
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let expected = format!(
        "orders: unknown setting http_adr in {} (did you mean http_addr?); the settings are: ",
        file.display()
    );
    assert!(stderr.starts_with(&expected), "{stderr}");
    assert_eq!(stderr.matches("http_adr").count(), 1, "{stderr}");
    assert!(
        !dir.path().join("orders.db").exists(),
        "the store was opened"
    );
}

/// `serve --help` lists every setting the file and the environment take, as a flag with its
/// environment variable: a setting added without a flag fails here.
#[test]
fn the_help_lists_every_setting_with_its_flag_and_variable() {
    let output = Command::new(env!("CARGO_BIN_EXE_orders"))
        .args(["serve", "--help"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    for name in command_api::config::setting_names() {
        let flag = match name.as_str() {
            "roles" => "--role".to_owned(),
            "shards" => "--shard".to_owned(),
            name => format!("--{}", name.replace('_', "-")),
        };
        let var = command_api::config::env_var(&name);
        let listed = help.split("\n      --").any(|entry| {
            let entry = format!("--{}", entry.trim_start_matches("--"));
            entry.starts_with(&format!("{flag} ")) && entry.contains(&format!("[env: {var}"))
        });
        assert!(
            listed,
            "{name} is not in serve --help as {flag} with {var}:\n{help}"
        );
    }
}

/// `orders healthcheck` with `args` and `env`: its exit code, stderr and how long it took.
fn healthcheck(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String, Duration) {
    let started = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_orders"))
        .arg("healthcheck")
        .args(args)
        .env_remove("ORDERS_HTTP_ADDR")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output.status.code(), stderr, started.elapsed())
}

/// The container's probe: 0 against a ready server, found at its --url or at the http_addr
/// of the settings (0.0.0.0, where the server listens in its container, probed on 127.0.0.1).
#[tokio::test]
async fn the_healthcheck_passes_against_a_ready_server() {
    let dir = tempfile::tempdir().unwrap();
    let database_url = format!("sqlite:{}", dir.path().join("orders.db").display());
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut server = start(&database_url, port, &dir.path().join("server.log"));
    wait_ready(&reqwest::Client::new(), &base).await;
    let (code, stderr, _) = healthcheck(&["--url", &base], &[]);
    assert_eq!(code, Some(0), "{stderr}");
    let all_addresses = format!("0.0.0.0:{port}");
    let (code, stderr, _) = healthcheck(&[], &[("ORDERS_HTTP_ADDR", &all_addresses)]);
    assert_eq!(code, Some(0), "{stderr}");
    terminate(&server);
    let status = wait_exit(&mut server, Duration::from_secs(GRACE_SECS)).await;
    assert!(status.is_some_and(|s| s.success()), "{status:?}");
}

/// 1 with a one-line reason naming the URL when nothing answers, and soon.
#[test]
fn the_healthcheck_fails_against_a_port_nothing_listens_on() {
    let url = format!("http://127.0.0.1:{}", free_port());
    let (code, stderr, took) = healthcheck(&["--url", &url], &[]);
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.contains(&format!("{url}/readyz")), "{stderr}");
    assert!(took < Duration::from_secs(5), "took {took:?}");
}
