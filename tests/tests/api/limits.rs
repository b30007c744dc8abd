//! Input limits, probed as a hostile client would: every input beyond its limit, of the wrong
//! type or shape, answers a 4xx `application/problem+json` and writes nothing to the log.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::Connection;

use crate::helpers::{NewProduct, TestApp};

const TEA: NewProduct<'static> = NewProduct {
    sku: "tea-500g",
    price_cents: 1299,
    stock: 10,
};

/// A request a hostile client sends, and the status it must be answered with.
struct Probe {
    what: String,
    method: Method,
    path: String,
    token: String,
    headers: Vec<(&'static str, Vec<u8>)>,
    body: Option<Vec<u8>>,
    status: StatusCode,
}

impl Probe {
    fn new(what: impl Into<String>, method: Method, path: impl Into<String>, token: &str) -> Self {
        Self {
            what: what.into(),
            method,
            path: path.into(),
            token: token.to_owned(),
            headers: vec![],
            body: None,
            status: StatusCode::UNPROCESSABLE_ENTITY,
        }
    }

    fn json(mut self, body: &Value) -> Self {
        self.body = Some(body.to_string().into_bytes());
        self
    }

    fn raw(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = Some(body.into());
        self
    }

    fn header(mut self, name: &'static str, value: impl Into<Vec<u8>>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    fn answers(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }
}

/// Events in the log: what "nothing is written" is measured by.
async fn events_in_log(app: &TestApp) -> i64 {
    let url = &app.settings.database_url;
    let count = "SELECT count(*) FROM events";
    if url.starts_with("sqlite:") {
        let mut db = sqlx::SqliteConnection::connect(url).await.unwrap();
        sqlx::query_scalar(count).fetch_one(&mut db).await.unwrap()
    } else {
        let mut db = sqlx::PgConnection::connect(url).await.unwrap();
        sqlx::query_scalar(count).fetch_one(&mut db).await.unwrap()
    }
}

/// The log once the reactions to the setup have run (they append too).
async fn settled_log(app: &TestApp) -> i64 {
    let mut last = events_in_log(app).await;
    loop {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let now = events_in_log(app).await;
        if now == last {
            return now;
        }
        last = now;
    }
}

/// What a probe was answered: status, `Content-Type` and body.
struct Answer {
    status: StatusCode,
    content_type: String,
    text: String,
}

/// Bodies above this go over a raw connection: the server answers 413 before it has read them
/// and closes, and an HTTP client that is still writing reports the broken pipe, not the answer.
const RAW_BODY_ABOVE_BYTES: usize = 64 * 1024;

async fn send(app: &TestApp, probe: &Probe) -> Answer {
    if probe
        .body
        .as_ref()
        .is_some_and(|b| b.len() > RAW_BODY_ABOVE_BYTES)
    {
        return send_raw(app, probe).await;
    }
    let response = send_with_client(app, probe).await;
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap_or("").to_owned())
        .unwrap_or_default();
    let text = response.text().await.unwrap_or_default();
    Answer {
        status,
        content_type,
        text,
    }
}

/// Writes the request by hand, keeps writing the body while the answer may already be there
/// (ignoring a broken pipe), and reads the answer to the end (`Connection: close`).
async fn send_raw(app: &TestApp, probe: &Probe) -> Answer {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let body = probe.body.clone().unwrap_or_default();
    let host = app.address.trim_start_matches("http://");
    let stream = tokio::net::TcpStream::connect(host).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let mut head = format!(
        "{} {} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n",
        probe.method,
        probe.path,
        body.len()
    );
    if !probe.token.is_empty() {
        head.push_str(&format!("Authorization: Bearer {}\r\n", probe.token));
    }
    head.push_str("\r\n");
    writer.write_all(head.as_bytes()).await.unwrap();
    let writing = tokio::spawn(async move {
        for chunk in body.chunks(16 * 1024) {
            if writer.write_all(chunk).await.is_err() {
                return;
            }
        }
    });
    let mut raw = Vec::new();
    // a reset after the answer ends the read; what was read before it counts
    let _ = reader.read_to_end(&mut raw).await;
    writing.abort();
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let (head, text) = raw.split_once("\r\n\r\n").unwrap_or((raw.as_str(), ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .and_then(|code| StatusCode::from_u16(code).ok())
        .unwrap_or_else(|| panic!("no answer to {}: {raw:?}", probe.what));
    let content_type = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-type")
                .then(|| value.trim().to_owned())
        })
        .unwrap_or_default();
    Answer {
        status,
        content_type,
        text: text.to_owned(),
    }
}

async fn send_with_client(app: &TestApp, probe: &Probe) -> reqwest::Response {
    let mut request = app
        .client
        .request(probe.method.clone(), app.url(&probe.path))
        .bearer_auth(&probe.token);
    for (name, value) in &probe.headers {
        let value = reqwest::header::HeaderValue::from_bytes(value).unwrap();
        request = request.header(*name, value);
    }
    if let Some(body) = &probe.body {
        request = request
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.clone());
    }
    request.send().await.unwrap()
}

fn product(sku: &str, title: &str, price_cents: Value, initial_stock: Value) -> Value {
    json!({ "sku": sku, "title": title, "price_cents": price_cents, "initial_stock": initial_stock })
}

fn order_body(order_id: &str, token: &str, items: Vec<Value>) -> Value {
    json!({ "order_id": order_id, "checkout_token": token, "items": items })
}

fn line(sku: &str, quantity: Value, product_version: Value) -> Value {
    json!({ "sku": sku, "quantity": quantity, "product_version": product_version })
}

/// `depth` arrays inside each other.
fn nested(depth: usize) -> String {
    format!("{}{}", "[".repeat(depth), "]".repeat(depth))
}

#[allow(clippy::too_many_lines)] // one table of probes reads better than many small functions
fn probes(app: &TestApp, order_id: &str, version: &str, fresh: (&str, &str)) -> Vec<Probe> {
    use Method as M;
    use StatusCode as S;
    let seller = app.seller();
    let buyer = app.buyer("b-1");
    let long = "x".repeat(10_000);
    let two_mb = vec![b' '; 2 * 1024 * 1024];
    let (fresh_id, fresh_token) = fresh;
    let create =
        |what: &str, body: Value| Probe::new(what, M::POST, "/v1/products", &seller).json(&body);
    let place = |what: &str, items: Vec<Value>| {
        Probe::new(what, M::POST, "/v1/orders", &buyer).json(&order_body(
            fresh_id,
            fresh_token,
            items,
        ))
    };
    let cancel = format!("/v1/orders/{order_id}/cancel");
    let logistics = format!("/v1/orders/{order_id}/logistics");
    let refunds = format!("/v1/orders/{order_id}/refunds");
    vec![
        // products: numbers
        create("negative price", product("p-1", "T", json!(-1), json!(1))),
        create(
            "price beyond the limit",
            product("p-1", "T", json!(i64::MAX), json!(1)),
        ),
        create(
            "price beyond i64",
            product("p-1", "T", json!(1e30), json!(1)),
        )
        .answers(S::BAD_REQUEST),
        create(
            "price as a string",
            product("p-1", "T", json!("12"), json!(1)),
        )
        .answers(S::BAD_REQUEST),
        create(
            "fractional price",
            product("p-1", "T", json!(1.5), json!(1)),
        )
        .answers(S::BAD_REQUEST),
        create("negative stock", product("p-1", "T", json!(1), json!(-1))).answers(S::BAD_REQUEST),
        create(
            "stock beyond u32",
            product("p-1", "T", json!(1), json!(1u64 << 32)),
        )
        .answers(S::BAD_REQUEST),
        // products: strings
        create("empty sku", product("", "T", json!(1), json!(1))),
        create("10 kB sku", product(&long, "T", json!(1), json!(1))),
        create("unicode sku", product("té", "T", json!(1), json!(1))),
        create(
            "control character in sku",
            product("a\u{0}b", "T", json!(1), json!(1)),
        ),
        create("empty title", product("p-1", "", json!(1), json!(1))),
        create("10 kB title", product("p-1", &long, json!(1), json!(1))),
        create(
            "control character in title",
            product("p-1", "a\u{7}", json!(1), json!(1)),
        ),
        // products: shapes
        create("missing field", json!({ "sku": "p-1" })).answers(S::BAD_REQUEST),
        create(
            "title as a number",
            json!({ "sku": "p-1", "title": 5, "price_cents": 1, "initial_stock": 1 }),
        )
        .answers(S::BAD_REQUEST),
        create("an array body", json!([1, 2])).answers(S::BAD_REQUEST),
        Probe::new("JSON nested 100,000 deep", M::POST, "/v1/products", &seller)
            .raw(format!("{{\"sku\": {}}}", nested(100_000)))
            .answers(S::BAD_REQUEST),
        Probe::new("2 MB body", M::POST, "/v1/products", &seller)
            .raw(two_mb.clone())
            .answers(S::PAYLOAD_TOO_LARGE),
        Probe::new("not JSON", M::POST, "/v1/products", &seller)
            .raw("sku=p-1")
            .answers(S::BAD_REQUEST),
        // path parameters
        Probe::new(
            "10 kB sku in the path",
            M::PUT,
            format!("/v1/products/{long}/price"),
            &seller,
        )
        .json(&json!({ "price_cents": 1 })),
        Probe::new("NUL in a sku path", M::GET, "/v1/skus/a%00b/stock", &seller),
        Probe::new(
            "unicode sku path",
            M::GET,
            "/v1/skus/%E2%82%AC/stock",
            &seller,
        ),
        Probe::new("order id zero", M::GET, "/v1/orders/0", &buyer),
        Probe::new("negative order id", M::GET, "/v1/orders/-1", &buyer),
        Probe::new(
            "order id beyond u64",
            M::GET,
            "/v1/orders/18446744073709551616",
            &buyer,
        ),
        Probe::new("emoji order id", M::GET, "/v1/orders/%F0%9F%92%A9", &buyer),
        Probe::new(
            "10 kB order id",
            M::POST,
            format!("/v1/orders/{long}/cancel"),
            &buyer,
        )
        .header("If-Match", version),
        // prices and stock of an existing product
        Probe::new(
            "price change beyond the limit",
            M::PUT,
            "/v1/products/tea-500g/price",
            &seller,
        )
        .json(&json!({ "price_cents": i64::MAX })),
        Probe::new(
            "negative price change",
            M::PUT,
            "/v1/products/tea-500g/price",
            &seller,
        )
        .json(&json!({ "price_cents": -5 })),
        Probe::new(
            "zero stock added",
            M::POST,
            "/v1/skus/tea-500g/stock",
            &seller,
        )
        .json(&json!({ "quantity": 0 })),
        Probe::new(
            "negative stock added",
            M::POST,
            "/v1/skus/tea-500g/stock",
            &seller,
        )
        .json(&json!({ "quantity": -1 }))
        .answers(S::BAD_REQUEST),
        // the cart
        Probe::new(
            "zero in the cart",
            M::PUT,
            "/v1/cart/items/tea-500g",
            &buyer,
        )
        .json(&json!({ "quantity": 0 })),
        Probe::new(
            "too many in the cart",
            M::PUT,
            "/v1/cart/items/tea-500g",
            &buyer,
        )
        .json(&json!({ "quantity": 10_001 })),
        Probe::new(
            "quantity beyond u32",
            M::PUT,
            "/v1/cart/items/tea-500g",
            &buyer,
        )
        .json(&json!({ "quantity": 1u64 << 32 }))
        .answers(S::BAD_REQUEST),
        // placing
        place(
            "quantity beyond the limit",
            vec![line("tea-500g", json!(10_001), json!(1))],
        ),
        place(
            "negative quantity",
            vec![line("tea-500g", json!(-1), json!(1))],
        )
        .answers(S::BAD_REQUEST),
        place(
            "negative product version",
            vec![line("tea-500g", json!(1), json!(-1))],
        )
        .answers(S::BAD_REQUEST),
        place(
            "101 items",
            (0..101)
                .map(|i| line(&format!("s-{i}"), json!(1), json!(1)))
                .collect(),
        ),
        place(
            "10,000 items",
            (0..10_000)
                .map(|i| line(&format!("sku-{i}"), json!(1), json!(1)))
                .collect(),
        )
        .answers(S::PAYLOAD_TOO_LARGE),
        Probe::new("empty order id", M::POST, "/v1/orders", &buyer).json(&order_body(
            "",
            fresh_token,
            vec![line("tea-500g", json!(1), json!(1))],
        )),
        Probe::new("10 kB checkout token", M::POST, "/v1/orders", &buyer)
            .json(&order_body(
                fresh_id,
                &long,
                vec![line("tea-500g", json!(1), json!(1))],
            ))
            .answers(S::FORBIDDEN),
        // updates of an order
        Probe::new("10 kB tracking number", M::PUT, logistics.as_str(), &seller)
            .header("If-Match", version)
            .json(&json!({ "tracking_number": long })),
        Probe::new(
            "unicode tracking number",
            M::PUT,
            logistics.as_str(),
            &seller,
        )
        .header("If-Match", version)
        .json(&json!({ "tracking_number": "SF\u{202e}123" })),
        Probe::new("If-Match beyond u64", M::POST, cancel.as_str(), &buyer)
            .header("If-Match", "\"18446744073709551616\"")
            .answers(S::BAD_REQUEST),
        Probe::new("If-Match at u64::MAX", M::POST, cancel.as_str(), &buyer)
            .header("If-Match", format!("\"{}\"", u64::MAX))
            .answers(S::PRECONDITION_FAILED),
        Probe::new("negative If-Match", M::POST, cancel.as_str(), &buyer)
            .header("If-Match", "\"-1\"")
            .answers(S::BAD_REQUEST),
        Probe::new("10 kB Idempotency-Key", M::POST, refunds.as_str(), &buyer)
            .header("If-Match", version)
            .header("Idempotency-Key", long.clone())
            .json(&json!({ "items": [{ "line": 0, "quantity": 1 }] }))
            .answers(S::BAD_REQUEST),
        Probe::new(
            "non-ASCII Idempotency-Key",
            M::POST,
            refunds.as_str(),
            &buyer,
        )
        .header("If-Match", version)
        .header("Idempotency-Key", b"k\xffy".to_vec())
        .json(&json!({ "items": [{ "line": 0, "quantity": 1 }] }))
        .answers(S::BAD_REQUEST),
        Probe::new(
            "10 kB X-Correlation-Id",
            M::PUT,
            "/v1/cart/items/tea-500g",
            &buyer,
        )
        .header("X-Correlation-Id", long.clone())
        .json(&json!({ "quantity": 1 }))
        .answers(S::BAD_REQUEST),
        Probe::new(
            "non-ASCII X-Correlation-Id",
            M::PUT,
            "/v1/cart/items/tea-500g",
            &buyer,
        )
        .header("X-Correlation-Id", b"c\xe9".to_vec())
        .json(&json!({ "quantity": 1 }))
        .answers(S::BAD_REQUEST),
        Probe::new(
            "refund of a line beyond u32",
            M::POST,
            refunds.as_str(),
            &buyer,
        )
        .header("If-Match", version)
        .json(&json!({ "items": [{ "line": 1u64 << 32, "quantity": 1 }] }))
        .answers(S::BAD_REQUEST),
        Probe::new(
            "refund of too many units",
            M::POST,
            refunds.as_str(),
            &buyer,
        )
        .header("If-Match", version)
        .json(&json!({ "items": [{ "line": 0, "quantity": 10_001 }] })),
        Probe::new("refund of 101 lines", M::POST, refunds.as_str(), &buyer)
            .header("If-Match", version)
            .json(&json!({
                "items": (0..101).map(|i| json!({ "line": i, "quantity": 1 })).collect::<Vec<_>>()
            })),
        // queries
        Probe::new("limit zero", M::GET, "/v1/buyers/me/orders?limit=0", &buyer),
        Probe::new(
            "limit 101",
            M::GET,
            "/v1/buyers/me/orders?limit=101",
            &buyer,
        ),
        Probe::new(
            "negative limit",
            M::GET,
            "/v1/buyers/me/orders?limit=-1",
            &buyer,
        )
        .answers(S::BAD_REQUEST),
        Probe::new(
            "huge limit",
            M::GET,
            "/v1/buyers/me/orders?limit=99999999999",
            &buyer,
        )
        .answers(S::BAD_REQUEST),
        Probe::new(
            "cursor not base64",
            M::GET,
            "/v1/buyers/me/orders?cursor=%21%21%21",
            &buyer,
        ),
        Probe::new(
            "cursor with a 10 kB order id",
            M::GET,
            format!("/v1/buyers/me/orders?cursor=1_{}", "9".repeat(10_000)),
            &buyer,
        ),
        Probe::new(
            "unknown status",
            M::GET,
            "/v1/buyers/me/orders?status=Bogus",
            &buyer,
        ),
        Probe::new(
            "archived not a bool",
            M::GET,
            "/v1/buyers/me/orders?archived=maybe",
            &buyer,
        )
        .answers(S::BAD_REQUEST),
        Probe::new(
            "min_version with a bad order id",
            M::GET,
            "/v1/buyers/me/orders?min_version=1&order_id=abc",
            &buyer,
        ),
        Probe::new(
            "negative min_version",
            M::GET,
            format!("/v1/orders/{order_id}?min_version=-1"),
            &buyer,
        )
        .answers(S::BAD_REQUEST),
        Probe::new(
            "min_version beyond any version",
            M::GET,
            format!("/v1/orders/{order_id}?min_version={}", u64::MAX),
            &buyer,
        ),
        Probe::new(
            "X-Min-Version beyond any version",
            M::GET,
            "/v1/skus/tea-500g/stock",
            &buyer,
        )
        .header("X-Min-Version", u64::MAX.to_string()),
        Probe::new(
            "X-Min-Version not a number",
            M::GET,
            "/v1/skus/tea-500g/stock",
            &buyer,
        )
        .header("X-Min-Version", "three"),
        // answers actix-web writes itself
        Probe::new("unknown route", M::GET, "/v1/nowhere", &buyer).answers(S::NOT_FOUND),
        // a route answers only its method: any other finds no route
        Probe::new("wrong method", M::DELETE, "/v1/checkout", &buyer).answers(S::NOT_FOUND),
        // the payment callback: refused before the body is read
        Probe::new("2 MB notification", M::POST, "/v1/payments/notify", "")
            .raw(two_mb)
            .answers(S::PAYLOAD_TOO_LARGE),
    ]
}

pub async fn hostile_inputs_are_4xx_problems_and_write_nothing(app: TestApp) {
    app.create_product(TEA).await;
    let order = app.order("b-1", &[("tea-500g", 1, 1)]).await;
    let order_id = order["order_id"].as_str().unwrap().to_owned();
    let version = format!("\"{}\"", order["version"]);
    let (fresh_id, fresh_token) = app.checkout("b-1").await;
    let settled = settled_log(&app).await;
    let mut failures = vec![];
    for probe in probes(&app, &order_id, &version, (&fresh_id, &fresh_token)) {
        let before = events_in_log(&app).await;
        let started = std::time::Instant::now();
        let Answer {
            status,
            content_type,
            text,
        } = send(&app, &probe).await;
        let written = events_in_log(&app).await - before;
        if status != probe.status || content_type != "application/problem+json" || written != 0 {
            let text: String = text.chars().take(160).collect();
            failures.push(format!(
                "{}: {status} {content_type:?} after {} ms, {written} events written \
                 (expected {}): {text}",
                probe.what,
                started.elapsed().as_millis(),
                probe.status
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    assert_eq!(events_in_log(&app).await, settled, "nothing was written");
}

/// The answer to an invalid field names it.
pub async fn a_price_beyond_the_limit_names_the_field(app: TestApp) {
    let response = app
        .client
        .post(app.url("/v1/products"))
        .bearer_auth(app.seller())
        .json(&product("p-1", "Tea", json!(i64::MAX), json!(1)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["field"], "price_cents");
}
