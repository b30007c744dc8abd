//! `orders healthcheck`: asks a server's `/readyz` whether it is ready, for container probes
//! (the image has no curl). Ready is a 200 whose body says `"status":"ready"`; anything else,
//! or no answer within [`HEALTHCHECK_TIMEOUT_MS`], is not.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

/// How long the probe waits for the answer, connecting included: a probe that hangs is a
/// failed probe, and the container runtime's own timeout should not be the one that ends it.
pub const HEALTHCHECK_TIMEOUT_MS: u64 = 2_000;

/// Why a server is not ready, in one line naming the URL asked.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NotReady {
    /// No answer: refused, unreachable, or not within the timeout.
    #[error("not ready: {url} did not answer: {reason}")]
    NoAnswer {
        /// The URL asked.
        url: String,
        /// Why, in short.
        reason: String,
    },
    /// An answer that is not a 200 saying `ready`.
    #[error("not ready: {url} answered {status}: {body}")]
    Answer {
        /// The URL asked.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The body's `status`, or the body's start when it is not readiness JSON.
        body: String,
    },
}

/// The URL of the readiness of a server listening on `http_addr`: an unspecified address
/// (`0.0.0.0`, `[::]`, where a server in a container listens) is asked on loopback.
pub fn local_url(http_addr: SocketAddr) -> String {
    let ip = match http_addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}", SocketAddr::new(ip, http_addr.port()))
}

/// The readiness URL of the server at `base` (`http://host:port`; a URL that already ends
/// in `/readyz` is taken as it is).
pub fn readiness_url(base: &str) -> String {
    let base = base.trim_end_matches('/');
    if base.ends_with("/readyz") {
        base.to_owned()
    } else {
        format!("{base}/readyz")
    }
}

/// Longest part of an unexpected body quoted in [`NotReady::Answer`].
const BODY_QUOTED_LEN_MAX: usize = 80;

/// Asks `url` (see [`readiness_url`]) whether the server is ready, waiting `timeout` at most.
pub async fn check(url: &str, timeout: Duration) -> Result<(), NotReady> {
    let no_answer = |reason: String| NotReady::NoAnswer {
        url: url.to_owned(),
        reason,
    };
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .map_err(|err| no_answer(err.to_string()))?;
    let answer = client.get(url).send().await.map_err(|err| {
        no_answer(if err.is_timeout() {
            format!("no answer within {} ms", timeout.as_millis())
        } else if err.is_connect() {
            "cannot connect".to_owned()
        } else {
            err.to_string()
        })
    })?;
    let status = answer.status();
    let text = answer
        .text()
        .await
        .map_err(|err| no_answer(err.to_string()))?;
    let said = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|body| body["status"].as_str().map(str::to_owned));
    if status == reqwest::StatusCode::OK && said.as_deref() == Some("ready") {
        return Ok(());
    }
    let body = said.unwrap_or_else(|| {
        let line = text.lines().next().unwrap_or_default();
        line.chars().take(BODY_QUOTED_LEN_MAX).collect()
    });
    Err(NotReady::Answer {
        url: url.to_owned(),
        status: status.as_u16(),
        body,
    })
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpListener;

    use super::*;

    #[test]
    fn an_unspecified_address_is_asked_on_loopback() {
        for (addr, url) in [
            ("0.0.0.0:8080", "http://127.0.0.1:8080"),
            ("[::]:8080", "http://[::1]:8080"),
            ("10.0.0.5:80", "http://10.0.0.5:80"),
            ("[fd00::5]:8080", "http://[fd00::5]:8080"),
        ] {
            assert_eq!(local_url(addr.parse().unwrap()), url);
        }
    }

    #[test]
    fn the_readiness_route_is_added_once() {
        for base in [
            "http://127.0.0.1:8080",
            "http://127.0.0.1:8080/",
            "http://127.0.0.1:8080/readyz",
        ] {
            assert_eq!(readiness_url(base), "http://127.0.0.1:8080/readyz");
        }
    }

    /// A server that answers each of its first `answers.len()` connections with the next
    /// raw answer (`None`: reads the request and never answers); its readiness URL.
    fn fake_server(answers: Vec<Option<String>>) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/readyz", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for answer in answers {
                let Ok((mut stream, _)) = listener.accept() else {
                    return;
                };
                let mut request = [0_u8; 1024];
                let _read = stream.read(&mut request);
                match answer {
                    Some(answer) => {
                        let _written = stream.write_all(answer.as_bytes());
                    }
                    None => held.push(stream),
                }
            }
            std::thread::sleep(Duration::from_secs(5));
        });
        url
    }

    fn answer(status: &str, body: &str) -> String {
        format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{body}",
            body.len()
        )
    }

    #[tokio::test]
    async fn only_a_200_saying_ready_is_ready() {
        let ready = answer(
            "200 OK",
            r#"{"status":"ready","roles":["api"],"leases":[]}"#,
        );
        let unavailable = answer("503 Service Unavailable", r#"{"status":"unavailable"}"#);
        let odd = answer("200 OK", r#"{"status":"starting"}"#);
        let html = answer("200 OK", "<html>hello</html>\nmore");
        let url = fake_server(vec![Some(ready), Some(unavailable), Some(odd), Some(html)]);
        let timeout = Duration::from_millis(HEALTHCHECK_TIMEOUT_MS);
        assert_eq!(check(&url, timeout).await, Ok(()));
        for (status, body) in [
            (503, "unavailable"),
            (200, "starting"),
            (200, "<html>hello</html>"),
        ] {
            let err = check(&url, timeout).await.unwrap_err();
            assert_eq!(
                err,
                NotReady::Answer {
                    url: url.clone(),
                    status,
                    body: body.to_owned()
                }
            );
        }
    }

    #[tokio::test]
    async fn a_server_that_does_not_answer_in_time_is_not_ready() {
        let url = fake_server(vec![None]);
        let started = std::time::Instant::now();
        let err = check(&url, Duration::from_millis(300)).await.unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(2));
        assert_eq!(
            err.to_string(),
            format!("not ready: {url} did not answer: no answer within 300 ms")
        );
    }
}
