//! `loadgen run` reads the server's configuration: against a server started from a file with
//! nothing but its address and store (the development secrets), a short place-pay run signs
//! its tokens and payment notifications and finds the server with no flag but `--config`.

use std::process::Command;

use command_api::config::{Overrides, Settings};
use command_api::startup::Application;

#[tokio::test]
async fn a_run_against_a_default_server_needs_no_secret_typed_by_hand() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let file = dir.path().join("orders.toml");
    std::fs::write(
        &file,
        format!(
            "http_addr = \"127.0.0.1:{port}\"\ndatabase_url = \"sqlite:{}\"\n",
            dir.path().join("orders.db").display()
        ),
    )
    .expect("the file is written");
    let mut settings = Settings::load(Some(&file), &Overrides::default()).expect("the settings");
    // the file's store, whatever DATABASE_URL the test run has (the server would migrate it)
    settings.database_url = format!("sqlite:{}", dir.path().join("orders.db").display());
    let app = Application::build(settings)
        .await
        .expect("the server starts");
    let stop = app.stop_handle();
    let server = tokio::spawn(app.run_until_stopped());
    let report = dir.path().join("report.json");
    let config = file.display().to_string();
    let report_path = report.display().to_string();
    let args = [
        "run",
        "--scenario",
        "place-pay",
        "--config",
        &config,
        "--clients",
        "2",
        "--seconds",
        "1",
        "--warmup-secs",
        "0",
        "--catalogue",
        "10",
        "--json",
        &report_path,
    ];
    let output = tokio::task::spawn_blocking({
        let args = args.map(str::to_owned);
        move || {
            Command::new(env!("CARGO_BIN_EXE_loadgen"))
                .args(args)
                .env_remove("ORDERS_JWT_SECRET")
                .env_remove("ORDERS_PAYMENT_CALLBACK_SECRET")
                .env_remove("ORDERS_HTTP_ADDR")
                .output()
                .expect("loadgen runs")
        }
    })
    .await
    .expect("loadgen ran");
    stop.stop();
    server
        .await
        .expect("the server task ends")
        .expect("the server stops cleanly");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&report).expect("the report is written"))
            .expect("the report is JSON");
    assert!(report["operations"].as_u64() > Some(0), "{report}");
    assert_eq!(report["errors"], serde_json::json!({}), "{report}");
    // progress into a pipe: plain lines, the last with the count
    assert!(!stderr.contains('\r'), "{stderr:?}");
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with("loadgen: place-pay: 2 clients, 0 s warm-up, then 1 s measured")),
        "{stderr}"
    );
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with("loadgen: place-pay: ") && l.ends_with(" operations done")),
        "{stderr}"
    );
}
