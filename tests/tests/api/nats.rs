//! With NATS: the relay publishes the log to JetStream while the API serves, a NATS outage
//! under load fails no command and loses no event, and the cart is cleared by the JetStream
//! consumer once per placement, with a message that always fails sent to the dead letters.
//! Each test has a throwaway `nats-server` of its own (it is stopped and started).

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_nats::jetstream;
use command_api::reactions::cart_consumer::CartClearing;
use command_api::startup::open_store;
use event_store::Checkpoint;
use relay::EnvelopeHandler;
use relay::testing::{ThrowawayNats, read_stream};
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{NewProduct, TestApp, eventually, spawn_app_with};

/// How long NATS is down under load.
const OUTAGE: Duration = Duration::from_secs(30);
/// Load before the outage and after it.
const LOAD_AROUND_OUTAGE: Duration = Duration::from_secs(3);
const CLIENTS: usize = 4;
/// Longest the relay may take to publish what the log holds once NATS is back.
const CATCH_UP_LIMIT: Duration = Duration::from_secs(60);

async fn with_nats(nats: &ThrowawayNats, max_deliveries: i64) -> TestApp {
    let url = nats.url();
    spawn_app_with(move |settings| {
        settings.nats_url = Some(url);
        settings.cart_consumer_max_deliveries = max_deliveries;
        settings.cart_consumer_ack_wait_secs = 2;
    })
    .await
}

async fn jetstream_of(nats: &ThrowawayNats) -> jetstream::Context {
    jetstream::new(async_nats::connect(nats.url()).await.unwrap())
}

/// Waits until the stream `ORDERS` holds as many messages as the log events, then checks
/// that it holds each event of the log exactly once, in log order per subject.
async fn every_event_is_in_the_stream_once(app: &TestApp, js: &jetstream::Context) -> usize {
    let store = open_store(&app.settings).await.unwrap();
    let started = Instant::now();
    // a read of the log may stop short for a moment (another test's transaction ending
    // while it looked, ADR 1): it is read again until it and the stream agree
    let (log, messages) = loop {
        let log = store
            .read_after(Checkpoint::START, 1_000_000)
            .await
            .unwrap();
        let messages = read_stream(js, "ORDERS").await;
        if messages.len() == log.len() || started.elapsed() > CATCH_UP_LIMIT {
            break (log, messages);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert_eq!(
        messages.len(),
        log.len(),
        "messages in the stream, events in the log"
    );
    let mut ids = HashSet::new();
    let mut last_position: BTreeMap<String, i64> = BTreeMap::new();
    for message in &messages {
        let id = message
            .header("Nats-Msg-Id")
            .expect("every message has an id");
        assert!(ids.insert(id.clone()), "{id} published twice");
        let envelope = message.envelope();
        assert_eq!(envelope.event_id, id);
        let last = last_position.entry(message.subject.clone()).or_insert(0);
        assert!(
            envelope.position > *last,
            "{} after position {last} on {}",
            envelope.position,
            message.subject
        );
        *last = envelope.position;
    }
    for event in &log {
        let id = relay::event_id(event);
        assert!(ids.contains(&id), "{id} of the log is not in the stream");
    }
    log.len()
}

/// The app with NATS, selling the SKU `tea`.
async fn selling_tea(nats: &ThrowawayNats, stock: u32) -> TestApp {
    let app = with_nats(nats, 5).await;
    app.create_product(NewProduct {
        sku: "tea",
        price_cents: 350,
        stock,
    })
    .await;
    app
}

pub async fn the_relay_publishes_every_event_once_in_log_order() {
    let nats = ThrowawayNats::start_new();
    let app = selling_tea(&nats, 100).await;
    for buyer in ["b-1", "b-2", "b-3"] {
        let order = app.order(buyer, &[("tea", 2, 1)]).await;
        let order_id = order["order_id"].as_str().unwrap();
        let total = order["total_cents"].as_i64().unwrap();
        let paid = app
            .notify_payment(order_id, &format!("txn-{buyer}"), total)
            .await;
        assert!(paid.status().is_success(), "{}", paid.status());
    }
    let js = jetstream_of(&nats).await;
    let events = every_event_is_in_the_stream_once(&app, &js).await;
    assert!(events > 10, "{events}");
    let metrics = app.metrics_with("relay_published_total").await;
    assert!(
        metrics.contains(r#"relay_lag_events{relay="relay",shard="default"}"#),
        "{metrics}"
    );
    app.stop().await;
}

pub async fn a_nats_outage_under_load_fails_no_command_and_loses_no_event() {
    let mut nats = ThrowawayNats::start_new();
    let app = Arc::new(selling_tea(&nats, 1_000_000).await);
    let stop = Arc::new(AtomicBool::new(false));
    let placed = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(Mutex::new(Vec::new()));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|n| {
            let (app, stop, placed, failures) = (
                Arc::clone(&app),
                Arc::clone(&stop),
                Arc::clone(&placed),
                Arc::clone(&failures),
            );
            tokio::spawn(async move {
                let buyer = format!("outage-{n}");
                while !stop.load(Ordering::Relaxed) {
                    let (order_id, token) = app.checkout(&buyer).await;
                    let response = app
                        .place_order(&buyer, &order_id, &token, &[("tea", 1, 1)])
                        .await;
                    if response.status() == StatusCode::CREATED {
                        placed.fetch_add(1, Ordering::Relaxed);
                    } else {
                        failures.lock().unwrap().push(response.status());
                    }
                }
            })
        })
        .collect();
    tokio::time::sleep(LOAD_AROUND_OUTAGE).await;
    nats.stop();
    let before_outage = placed.load(Ordering::Relaxed);
    tokio::time::sleep(OUTAGE).await;
    let during_outage = placed.load(Ordering::Relaxed) - before_outage;
    nats.start();
    tokio::time::sleep(LOAD_AROUND_OUTAGE).await;
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.await.unwrap();
    }
    assert!(
        failures.lock().unwrap().is_empty(),
        "commands failed: {:?}",
        failures.lock().unwrap()
    );
    assert!(during_outage > 0, "no order was placed while NATS was down");
    let js = jetstream_of(&nats).await;
    every_event_is_in_the_stream_once(&app, &js).await;
    let app = Arc::into_inner(app).unwrap();
    app.stop().await;
}

pub async fn the_consumer_clears_the_cart_once_however_often_delivered() {
    let nats = ThrowawayNats::start_new();
    let app = selling_tea(&nats, 100).await;
    let add = |sku: &'static str| {
        app.client
            .put(app.url(&format!("/v1/cart/items/{sku}")))
            .bearer_auth(app.buyer("b-1"))
            .json(&json!({ "quantity": 1 }))
            .send()
    };
    assert!(add("tea").await.unwrap().status().is_success());
    app.order("b-1", &[("tea", 1, 1)]).await;
    eventually(|| async {
        let cart = app.cart("b-1").await;
        cart["items"]
            .as_array()
            .is_some_and(Vec::is_empty)
            .then_some(())
    })
    .await;

    // the placement delivered again, as after a crash before its ack: the buyer's new cart
    // stays as it is
    assert!(add("tea").await.unwrap().status().is_success());
    let js = jetstream_of(&nats).await;
    let placed = read_stream(&js, "ORDERS")
        .await
        .into_iter()
        .find(|m| m.subject.ends_with(".OrderPlaced"))
        .expect("the placement was published")
        .envelope();
    let store = open_store(&app.settings).await.unwrap();
    CartClearing::new(shards::Stores::one(store.clone()))
        .handle(&placed)
        .await
        .unwrap();
    let cart = app.cart("b-1").await;
    assert_eq!(cart["items"].as_array().map(Vec::len), Some(1), "{cart}");
    let cleared: Vec<_> = store
        .read_stream("Cart", "b-1")
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.event_type == "CartCleared")
        .collect();
    assert_eq!(cleared.len(), 1, "the cart was cleared once");
    assert_eq!(
        cleared[0].metadata.actor.as_deref(),
        Some("system:cart-clearing"),
        "the consumer cleared it, not the in-process reaction"
    );
    app.stop().await;
}

pub async fn a_placement_that_always_fails_goes_to_the_dead_letters() {
    let nats = ThrowawayNats::start_new();
    let app = with_nats(&nats, 2).await;
    let js = jetstream_of(&nats).await;
    // an OrderPlaced whose payload is no order event: the consumer fails on every delivery
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Nats-Msg-Id", "Order/1/1");
    let envelope = json!({
        "envelope_version": 1, "event_id": "Order/1/1", "event_type": "OrderPlaced",
        "event_version": "1.0", "aggregate_type": "Order", "aggregate_id": "1",
        "aggregate_version": 1, "partition": 1, "position": 1,
        "recorded_at": "2026-12-05T00:00:00Z", "correlation_id": null, "causation_id": null,
        "dedup_key": null, "payload": { "NotAnOrderEvent": {} },
    });
    js.publish_with_headers(
        "orders.Order.1.OrderPlaced",
        headers,
        serde_json::to_vec(&envelope).unwrap().into(),
    )
    .await
    .unwrap()
    .await
    .unwrap();
    let started = Instant::now();
    let dead = loop {
        let dead = read_stream(&js, "ORDERS_DEAD_LETTERS").await;
        if !dead.is_empty() || started.elapsed() > Duration::from_secs(30) {
            break dead;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert_eq!(dead.len(), 1, "one dead letter");
    assert_eq!(dead[0].subject, "orders-dead-letters.cart-clearing");
    assert_eq!(
        dead[0].header("Orders-Dead-Letter-Deliveries").as_deref(),
        Some("2")
    );
    assert_eq!(
        dead[0].header("Orders-Dead-Letter-Subject").as_deref(),
        Some("orders.Order.1.OrderPlaced")
    );
    app.stop().await;
}
