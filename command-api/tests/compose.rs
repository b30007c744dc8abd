//! `docker/compose.yml` as compose reads it: `docker-compose config` must accept the file, it
//! must run each role of the binary as its own service from one image, probed by `orders
//! healthcheck`, and it must refuse to start without the two secrets. No container is started (no Docker engine is needed).
//!
//! Where `docker-compose` is not installed the tests say so on stderr and pass; `scripts/test`
//! installs it where it can.
#![allow(clippy::unwrap_used, clippy::expect_used, unreachable_pub)]
// the reason a test is skipped goes to stderr, where the test runner shows it
#![allow(clippy::print_stderr)]

use std::collections::BTreeSet;
use std::io::ErrorKind;
use std::process::{Command, Output};

use yaml_rust2::{Yaml, YamlLoader};

const COMPOSE_FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docker/compose.yml");
const JWT_SECRET: &str = "compose-test-jwt-secret";
const CALLBACK_SECRET: &str = "compose-test-callback-secret";
/// Each service that runs the binary, with the roles it must be given.
const ROLE_SERVICES: [(&str, &str); 6] = [
    ("api1", "api"),
    ("api2", "api"),
    ("projector", "projector"),
    ("reactor", "reactor"),
    ("relay", "relay"),
    ("timer", "timer"),
];

/// Runs `docker-compose -f docker/compose.yml <args>`, with the secrets when `secrets`;
/// `None` when docker-compose is not installed.
fn compose(args: &[&str], secrets: bool) -> Option<Output> {
    let mut command = Command::new("docker-compose");
    command
        .arg("-f")
        .arg(COMPOSE_FILE)
        .args(args)
        .env_remove("ORDERS_JWT_SECRET")
        .env_remove("ORDERS_PAYMENT_CALLBACK_SECRET")
        .env_remove("COMPOSE_FILE")
        .env_remove("COMPOSE_PROJECT_NAME");
    if secrets {
        command
            .env("ORDERS_JWT_SECRET", JWT_SECRET)
            .env("ORDERS_PAYMENT_CALLBACK_SECRET", CALLBACK_SECRET);
    }
    match command.output() {
        Ok(output) => Some(output),
        Err(err) if err.kind() == ErrorKind::NotFound => {
            eprintln!(
                "skipped: docker-compose is not on PATH, so {COMPOSE_FILE} is not checked \
                 (Debian: apt-get install docker-compose; scripts/test installs it when it can)"
            );
            None
        }
        Err(err) => panic!("docker-compose did not run: {err}"),
    }
}

/// The output of a compose call that must succeed.
fn stdout_of(output: Output, what: &str) -> String {
    assert!(
        output.status.success(),
        "{what} failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn str_at<'a>(yaml: &'a Yaml, path: &[&str]) -> Option<&'a str> {
    path.iter().fold(yaml, |node, key| &node[*key]).as_str()
}

/// A port as compose prints it: docker-compose 1.x prints a number, Compose v2 quotes the
/// published one.
fn port_number(yaml: &Yaml) -> Option<i64> {
    yaml.as_i64()
        .or_else(|| yaml.as_str().and_then(|s| s.parse().ok()))
}

#[test]
fn the_compose_file_runs_each_role_as_its_own_service_from_one_image() {
    let Some(output) = compose(&["config", "--services"], true) else {
        return;
    };
    let services: BTreeSet<String> = stdout_of(output, "docker-compose config --services")
        .lines()
        .map(str::to_owned)
        .collect();
    for name in ROLE_SERVICES
        .iter()
        .map(|(name, _)| *name)
        .chain(["postgres", "nats"])
    {
        assert!(services.contains(name), "no service {name} in {services:?}");
    }

    let Some(output) = compose(&["config"], true) else {
        return;
    };
    let text = stdout_of(output, "docker-compose config");
    let docs = YamlLoader::load_from_str(&text).expect("docker-compose config prints YAML");
    let services = &docs[0]["services"];
    let first = &services[ROLE_SERVICES[0].0];
    let image = first["image"].as_str().expect("the nodes' image is named");
    for (name, roles) in ROLE_SERVICES {
        let service = &services[name];
        let env = |key: &str| str_at(service, &["environment", key]);
        assert_eq!(env("ORDERS_ROLES"), Some(roles), "{name}: ORDERS_ROLES");
        assert_eq!(
            env("DATABASE_URL"),
            Some("postgres://postgres@postgres:5432/postgres"),
            "{name}"
        );
        assert_eq!(env("NATS_URL"), Some("nats://nats:4222"), "{name}");
        assert_eq!(env("ORDERS_HTTP_ADDR"), Some("0.0.0.0:8080"), "{name}");
        assert_eq!(env("ORDERS_JWT_SECRET"), Some(JWT_SECRET), "{name}");
        assert_eq!(
            env("ORDERS_PAYMENT_CALLBACK_SECRET"),
            Some(CALLBACK_SECRET),
            "{name}"
        );
        // one image, built once: every node names it and builds it the same way
        assert_eq!(service["image"].as_str(), Some(image), "{name}: image");
        assert_eq!(service["build"], first["build"], "{name}: build");
        assert_eq!(
            str_at(service, &["depends_on", "postgres", "condition"]),
            Some("service_healthy"),
            "{name}"
        );
        assert_eq!(
            str_at(service, &["depends_on", "nats", "condition"]),
            Some("service_started"),
            "{name}"
        );
        // the image has no curl: the binary probes its own readiness
        let probe: Vec<&str> = service["healthcheck"]["test"]
            .as_vec()
            .map(|test| test.iter().filter_map(Yaml::as_str).collect())
            .unwrap_or_default();
        assert_eq!(
            probe,
            ["CMD", "orders", "healthcheck"],
            "{name}: healthcheck"
        );
    }
    assert_eq!(
        str_at(first, &["build", "dockerfile"]),
        Some("docker/Dockerfile")
    );
    for (name, host_port) in [("api1", 8080), ("api2", 8081)] {
        let ports = services[name]["ports"]
            .as_vec()
            .expect("the API publishes a port");
        assert!(
            ports
                .iter()
                .any(|port| port_number(&port["published"]) == Some(host_port)
                    && port_number(&port["target"]) == Some(8080)),
            "{name} publishes 8080 on the host's {host_port}: {ports:?}"
        );
    }
}

#[test]
fn the_compose_file_refuses_to_start_without_the_secrets() {
    let Some(output) = compose(&["config", "--quiet"], false) else {
        return;
    };
    assert!(
        !output.status.success(),
        "config passed without the secrets"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("set ORDERS_JWT_SECRET"), "{stderr}");
}
