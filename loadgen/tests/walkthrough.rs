//! The README's flash-sale walk-through, run as written (see the `readme` module of
//! command-api's tests for the few changes made to a block): against a server with nothing
//! configured but its address and store, as the Run section starts it, `loadgen flash-sale`
//! finds the server and signs its tokens from the server's configuration, and sells exactly the
//! campaign's stock.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../command-api/tests/readme/mod.rs"]
mod readme;

use command_api::config::Settings;
use command_api::startup::Application;

#[tokio::test]
async fn the_flash_sale_walk_through_passes_as_written() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let port = readme::free_port();
    // the Run section's server: every default, but the test's port and a store of its own
    let settings = Settings {
        http_addr: format!("127.0.0.1:{port}").parse().expect("an address"),
        database_url: format!("sqlite:{}", dir.path().join("orders.db").display()),
        ..Settings::default()
    };
    let app = Application::build(settings)
        .await
        .expect("the server starts");
    let stop = app.stop_handle();
    let server = tokio::spawn(app.run_until_stopped());

    let script: String = readme::blocks("### Walk-through: a flash sale")
        .iter()
        .map(|block| {
            readme::as_run(
                block,
                &[("cargo run --release -p loadgen --", "\"$LOADGEN_BIN\"")],
            )
        })
        .collect();
    let stdout = tokio::task::spawn_blocking({
        let dir = dir.path().to_owned();
        move || {
            readme::run(
                &script,
                &dir,
                port,
                &[("LOADGEN_BIN", env!("CARGO_BIN_EXE_loadgen"))],
            )
        }
    })
    .await
    .expect("the walk-through ran");
    stop.stop();
    server
        .await
        .expect("the server task ends")
        .expect("the server stops cleanly");

    assert!(stdout.starts_with("flash-sale "), "{stdout}");
    let report: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("flash-sale.json")).expect("the report is written"),
    )
    .expect("the report is JSON");
    let extra = &report["extra"];
    assert_eq!(extra["reservations"], 100.0, "{report}");
    assert_eq!(extra["oversold"], 0.0, "{report}");
    assert_eq!(extra["over_limit"], 0.0, "{report}");
}
