//! The README's walk-throughs, run as a newcomer pastes them (see [`readme`] for the few
//! changes made to each block): the server started as the Run section says, the first
//! walk-through against it, the signed callback with `openssl`, the campaign and the read side
//! (views, reconcile, audit, replay, archive), then the
//! second walk-through's server (short deadlines, lost callbacks) on the same data directory
//! and its commands; and, beside them, the events of the first walk-through watched with
//! `orders tail` on the tests' NATS. The flash sale's walk-through runs `loadgen`, and so is
//! run by `loadgen/tests/walkthrough.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used, unreachable_pub)]

mod readme;

use readme::{as_run, blocks, free_port, outputs};

/// The `orders` binary under test for the README's ways of running it.
const ORDERS: &[(&str, &str)] = &[
    (
        "cargo run -q --release -p command-api --bin orders --",
        "\"$ORDERS_BIN\"",
    ),
    (
        "cargo run --release -p command-api --bin orders --",
        "\"$ORDERS_BIN\"",
    ),
];

const FIRST: &str = "### Walk-through: from a token to a paid and shipped order";
const SECOND: &str = "### Walk-through: payments and deadlines, with the simulator";
const CALLBACKS: &str = "### Signed payment callbacks";
const CAMPAIGNS: &str = "### Flash sales: campaigns";
const READ_SIDE: &str = "### Read side: views, reconcile, audit, replay";
const WATCH: &str = "#### Walk-through: watch an order's events arrive";

/// Every block of the section `heading`, as run.
fn section(heading: &str) -> String {
    blocks(heading).iter().map(|b| as_run(b, ORDERS)).collect()
}

/// The output between `echo "--- {from}"` and the next marker (or the end).
fn part<'a>(stdout: &'a str, from: &str) -> &'a str {
    let marker = format!("--- {from}\n");
    let start = stdout
        .find(&marker)
        .unwrap_or_else(|| panic!("no {marker:?} in:\n{stdout}"))
        + marker.len();
    let rest = &stdout[start..];
    rest.find("\n--- ").map_or(rest, |end| &rest[..end])
}

#[test]
fn the_walk_throughs_pass_as_written() {
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let mut script = section("## Run");
    script.push_str("echo '--- first'\n");
    script.push_str(&section(FIRST));
    script.push_str("echo '--- signed callback'\n");
    script.push_str(&section(CALLBACKS));
    script.push_str("echo '--- campaign'\n");
    script.push_str(&section(CAMPAIGNS));
    script.push_str("echo '--- read side'\n");
    script.push_str(&section(READ_SIDE));
    script.push_str("echo '--- second'\nstop_server\n");
    script.push_str(&section(SECOND));
    script.push_str("stop_server\n");
    let bin = env!("CARGO_BIN_EXE_orders");
    let stdout = readme::run(&script, dir.path(), port, &[("ORDERS_BIN", bin)]);

    let first = part(&stdout, "first");
    for expected in [
        r#""status": "Paid""#,
        r#""status": "Shipped""#,
        r#""tracking_number": "SF1234567""#,
        r#"/problems/version-mismatch""#,
        r#""reserved":0"#,
        r#""sold":2"#,
        r#""items":[]"#,
    ] {
        assert!(first.contains(expected), "no {expected} in:\n{first}");
    }
    // the payment again, signed by openssl: accepted, recording nothing new (the order as it
    // is, shipped), where a wrong signature would be 401 /problems/bad-signature
    let signed = part(&stdout, "signed callback");
    assert!(signed.contains(r#""status": "Shipped""#), "{signed}");
    let campaign = part(&stdout, "campaign");
    for expected in [
        r#""total_cents": 999"#,
        r#""status": "Running""#,
        r#""remaining": 4"#,
        r#""Ended""#,
    ] {
        assert!(campaign.contains(expected), "no {expected} in:\n{campaign}");
    }
    // the views, reconcile beside the server, the audit, a replay and the archive
    let read_side = part(&stdout, "read side");
    for expected in [
        "0 dead letter(s)",
        ": 0 difference(s)\nexit 0",
        "archived 0 orders",
    ] {
        assert!(
            read_side.contains(expected),
            "no {expected} in:\n{read_side}"
        );
    }
    let second = part(&stdout, "second");
    for expected in [
        r#""status": "Cancelled""#,
        r#""cancel_reason": "PaymentTimeout""#,
        r#""callback": "dropped""#,
        "\"PendingPayment\"",
        r#""status": "Paid""#,
        "payment_deadline_",
    ] {
        assert!(second.contains(expected), "no {expected} in:\n{second}");
    }
}

/// `orders tail` beside a server with NATS, on a stream of the test's own (the tests share
/// one NATS): the events of the first walk-through up to the placement arrive as the README
/// shows them (an order's id aside, which is new each time).
#[tokio::test]
async fn watching_the_events_arrive_passes_as_written() {
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    let stream = format!("WALK_{}", &suffix[..12]);
    let prefix = format!("walk{}", &suffix[..12]);
    // the first walk-through's setup (`orders`, `API`, the tokens), then its commands from
    // the product up to the placement
    let first = as_run(&blocks(FIRST)[0], ORDERS);
    let at = |line: &str| {
        first
            .find(&format!("\n{line}"))
            .map(|at| at + 1)
            .unwrap_or_else(|| panic!("no line {line:?} in the first walk-through"))
    };
    let (product, payment) = (
        at("# the seller lists a product"),
        at("# the payment provider reports"),
    );
    let (setup, commands) = (&first[..product], &first[product..payment]);
    let shown = outputs(WATCH);
    let expected: Vec<&str> = shown[0].lines().collect();
    let mut script = setup.to_owned();
    script.push_str(&section(WATCH));
    script.push_str(commands);
    script.push_str(&format!(
        "for _ in $(seq 300); do [ \"$(wc -l <tail.jsonl)\" -ge {} ] && break; sleep 0.1; done\n\
         stop \"$TAIL\" INT; TAIL=\n\
         echo '--- tail'\n\
         jq -c '{{event_id, event_type, partition, position}}' tail.jsonl\n",
        expected.len()
    ));
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let nats = std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned());
    let script_nats = script.replace("nats://127.0.0.1:4222", &nats);
    let stdout = tokio::task::spawn_blocking({
        let dir = dir.path().to_owned();
        let (stream, prefix) = (stream.clone(), prefix.clone());
        move || {
            let env = [
                ("ORDERS_BIN", env!("CARGO_BIN_EXE_orders")),
                ("ORDERS_NATS_STREAM", stream.as_str()),
                ("ORDERS_NATS_SUBJECT_PREFIX", prefix.as_str()),
            ];
            readme::run(&script_nats, &dir, port, &env)
        }
    })
    .await
    .unwrap();
    let js = async_nats::jetstream::new(relay::connect(&nats, "walkthrough-test").await.unwrap());
    js.delete_stream(&stream).await.unwrap();

    let order_id = |line: &str| -> String {
        // `Order/<id>/1`: the id is new in each run
        match line.split_once("\"Order/") {
            Some((before, after)) => {
                let rest = after.split_once('/').map_or(after, |(_, rest)| rest);
                format!("{before}\"Order/*/{rest}")
            }
            None => line.to_owned(),
        }
    };
    let tailed: Vec<String> = part(&stdout, "tail").lines().map(order_id).collect();
    let expected: Vec<String> = expected.into_iter().map(order_id).collect();
    assert_eq!(tailed, expected, "{stdout}");
}
