//! Posting batches to one remote-write URL, with Prometheus' retry rules.
//!
//! - 2xx: done; `X-Prometheus-Remote-Write-Samples-Written` is added up where the receiver
//!   sends it (remote write 2.0 requires it; 1.0 receivers mostly do not send it).
//! - 5xx, no answer, or a timeout: retried with back-off from 30 ms doubling to 5 s, as
//!   Prometheus' `min_backoff`/`max_backoff` defaults, until the run's deadline.
//! - 429: retried the same way only with `retry_on_429` (honouring `Retry-After`), otherwise
//!   dropped, as Prometheus' `retry_on_http_429: false`.
//! - any other 4xx: dropped and counted; the body's start is kept as the last error.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderValue, CONTENT_ENCODING, CONTENT_TYPE, RETRY_AFTER, USER_AGENT};
use hyper::{Request, StatusCode, Uri};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use super::batch::Batch;
use super::stats::{DropReason, UrlStats};
use super::Protocol;

pub const MIN_BACKOFF: Duration = Duration::from_millis(30);
pub const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// Prometheus' `remote_timeout` default.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
pub const WRITTEN_HEADER: &str = "x-prometheus-remote-write-samples-written";
const VERSION_HEADER: &str = "x-prometheus-remote-write-version";

/// A receiver's answer to one request.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: StatusCode,
    /// `X-Prometheus-Remote-Write-Samples-Written`, when sent.
    pub samples_written: Option<u64>,
    /// The other `X-Prometheus-Remote-Write-*` headers, as `name: value`.
    pub written_headers: Vec<String>,
    pub retry_after: Option<Duration>,
    /// The start of the body (at most 300 bytes), for reports.
    pub body: String,
}

/// An HTTP/1.1 client for plain-HTTP receivers.
#[derive(Clone)]
pub struct Poster {
    client: Client<HttpConnector, Full<Bytes>>,
    protocol: Protocol,
}

impl Poster {
    pub fn new(protocol: Protocol) -> Poster {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        Poster { client, protocol }
    }

    /// Posts one compressed request body once.
    pub async fn post(&self, url: &Uri, body: Bytes) -> anyhow::Result<Answer> {
        let req = Request::post(url.clone())
            .header(CONTENT_ENCODING, "snappy")
            .header(CONTENT_TYPE, self.protocol.content_type())
            .header(VERSION_HEADER, self.protocol.version_header())
            .header(
                USER_AGENT,
                concat!("mock-exporter/", env!("CARGO_PKG_VERSION")),
            )
            .body(Full::new(body))?;
        let resp = tokio::time::timeout(REQUEST_TIMEOUT, self.client.request(req))
            .await
            .map_err(|_| anyhow::anyhow!("no answer within {REQUEST_TIMEOUT:?}"))??;
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = tokio::time::timeout(REQUEST_TIMEOUT, resp.into_body().collect())
            .await
            .map_err(|_| anyhow::anyhow!("body not read within {REQUEST_TIMEOUT:?}"))??
            .to_bytes();
        let text = |v: &HeaderValue| v.to_str().unwrap_or("").to_string();
        Ok(Answer {
            status,
            samples_written: headers
                .get(WRITTEN_HEADER)
                .and_then(|v| v.to_str().ok()?.parse().ok()),
            written_headers: headers
                .iter()
                .filter(|(n, _)| n.as_str().starts_with("x-prometheus-remote-write-"))
                .map(|(n, v)| format!("{n}: {}", text(v)))
                .collect(),
            retry_after: headers
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok()?.trim().parse().ok())
                .map(Duration::from_secs),
            body: String::from_utf8_lossy(&body[..body.len().min(300)])
                .trim()
                .to_string(),
        })
    }
}

/// One URL's sender: the poster, its figures, and when to give up.
pub struct Target {
    pub url: Uri,
    pub poster: Poster,
    pub stats: Arc<UrlStats>,
    pub retry_on_429: bool,
    pub deadline: Instant,
}

enum Next {
    Done,
    Drop(DropReason),
    Retry(Option<Duration>),
}

impl Target {
    /// Sends `batch` until it is accepted, refused, or the deadline passes.
    pub async fn send(&self, batch: &Batch) {
        let mut backoff = MIN_BACKOFF;
        let mut attempt = 0u32;
        loop {
            if attempt > 0 {
                self.stats.samples_retried.fetch_add(batch.samples, Relaxed);
            }
            attempt += 1;
            let started = Instant::now();
            let result = self.poster.post(&self.url, batch.body.clone()).await;
            let next = self.judge(batch, result, started.elapsed());
            let wait = match next {
                Next::Done => return,
                Next::Drop(reason) => return self.stats.dropped(reason, batch.samples),
                Next::Retry(after) => after.unwrap_or(backoff),
            };
            if Instant::now() + wait >= self.deadline {
                return self.stats.dropped(DropReason::Unsent, batch.samples);
            }
            tokio::time::sleep(wait).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    fn judge(&self, batch: &Batch, result: anyhow::Result<Answer>, took: Duration) -> Next {
        let s = &self.stats;
        let answer = match result {
            Ok(a) => a,
            Err(e) => {
                s.answered(0);
                *s.last_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(format!("{e:#}"));
                return Next::Retry(None);
            }
        };
        s.answered(answer.status.as_u16());
        s.latency.record(took);
        if answer.status.is_success() {
            s.samples_sent.fetch_add(batch.samples, Relaxed);
            s.bytes_sent.fetch_add(batch.body.len() as u64, Relaxed);
            if let Some(n) = answer.samples_written {
                s.samples_written.fetch_add(n, Relaxed);
                s.written_reported.fetch_add(1, Relaxed);
            }
            return Next::Done;
        }
        *s.last_error.lock().unwrap_or_else(|e| e.into_inner()) =
            Some(format!("{}: {}", answer.status.as_u16(), answer.body));
        match answer.status {
            StatusCode::TOO_MANY_REQUESTS if self.retry_on_429 => Next::Retry(answer.retry_after),
            StatusCode::TOO_MANY_REQUESTS => Next::Drop(DropReason::Throttled),
            st if st.is_server_error() => Next::Retry(None),
            _ => Next::Drop(DropReason::Rejected),
        }
    }
}
