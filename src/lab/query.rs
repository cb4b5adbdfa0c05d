//! A small client for the Prometheus HTTP API (`/api/v1/query`, `query_range`, `series`) and for
//! `/metrics` pages, shared by `verify`, `dashboards` and `compare`.
//!
//! Answers are read through typed serde structs ([`ApiResponse`], [`QueryData`]), never by
//! indexing JSON. Synchronous on purpose: the callers ask a handful of questions in order and
//! report each answer, so there is nothing to overlap. The HTTP itself sits behind
//! [`Transport`], so tests can answer from recorded bodies without a lab.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{bail, Context};
use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::lab::endpoints::{BasicAuth, Endpoint};
use crate::scrape;

/// A series' labels, `__name__` included where the API gives it.
pub type Labels = BTreeMap<String, String>;

/// The envelope of every Prometheus API answer.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiResponse<T> {
    pub status: ApiStatus,
    pub data: Option<T>,
    pub error: Option<String>,
    pub error_type: Option<String>,
    /// VictoriaMetrics: some storage nodes did not answer.
    #[serde(default)]
    pub is_partial: bool,
    #[serde(default)]
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApiStatus {
    Success,
    Error,
}

/// The `data` of `/api/v1/query` and `/api/v1/query_range`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "resultType", content = "result", rename_all = "lowercase")]
pub enum QueryData {
    Vector(Vec<InstantSeries>),
    Matrix(Vec<RangeSeries>),
    Scalar(Sample),
    String(Sample),
}

impl QueryData {
    /// How many series (one for a scalar or string).
    pub fn series(&self) -> usize {
        match self {
            QueryData::Vector(v) => v.len(),
            QueryData::Matrix(m) => m.len(),
            QueryData::Scalar(_) | QueryData::String(_) => 1,
        }
    }

    /// The instant vector, or nothing for other result types.
    pub fn vector(self) -> Vec<InstantSeries> {
        match self {
            QueryData::Vector(v) => v,
            _ => Vec::new(),
        }
    }

    /// The range vector, or nothing for other result types.
    pub fn matrix(self) -> Vec<RangeSeries> {
        match self {
            QueryData::Matrix(m) => m,
            _ => Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct InstantSeries {
    pub metric: Labels,
    pub value: Sample,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct RangeSeries {
    pub metric: Labels,
    pub values: Vec<Sample>,
}

/// `[unix seconds, "value"]`: the value stays text, as the API sends it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Sample(pub f64, pub String);

impl Sample {
    pub fn time(&self) -> f64 {
        self.0
    }

    /// The value as a number (`NaN`, `+Inf` included), if it is one.
    pub fn value(&self) -> Option<f64> {
        match self.1.as_str() {
            "+Inf" => Some(f64::INFINITY),
            "-Inf" => Some(f64::NEG_INFINITY),
            s => s.parse().ok(),
        }
    }
}

/// How a [`Client`] sends a GET (and the one kind of POST it makes, [`Client::probe_write`]).
pub trait Transport: Send + Sync {
    /// The body of a successful (2xx) answer to a GET of `url`.
    fn get(&self, url: &str, auth: Option<&BasicAuth>) -> anyhow::Result<String>;

    /// POSTs `body` with `headers` to `url`: the status and body of any answer; an error only
    /// when there is none (refused, timed out).
    fn post(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> anyhow::Result<(u16, String)>;
}

struct Ureq(ureq::Agent);

impl Transport for Ureq {
    fn get(&self, url: &str, auth: Option<&BasicAuth>) -> anyhow::Result<String> {
        let mut req = self.0.get(url);
        if let Some(a) = auth {
            req = req.header("Authorization", a.header());
        }
        let mut resp = req.call().with_context(|| format!("GET {url}"))?;
        let status = resp.status();
        let body = resp
            .body_mut()
            .with_config()
            .limit(256 * 1024 * 1024)
            .read_to_string()
            .with_context(|| format!("reading {url}"))?;
        if !status.is_success() {
            bail!(
                "GET {url}: HTTP {status}: {}",
                body.chars().take(300).collect::<String>()
            );
        }
        Ok(body)
    }

    fn post(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> anyhow::Result<(u16, String)> {
        let mut req = self.0.post(url);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let mut resp = req.send(body).with_context(|| format!("POST {url}"))?;
        let text = resp
            .body_mut()
            .with_config()
            .limit(64 * 1024)
            .read_to_string()
            .with_context(|| format!("reading the answer to POST {url}"))?;
        Ok((resp.status().as_u16(), text))
    }
}

/// A remote-write request holding no series: the snappy block of an empty protobuf message.
/// Every receiver accepts it (2xx) on its write path, so it tells a wrong URL from a right one
/// without writing anything.
pub const EMPTY_WRITE_REQUEST: &[u8] = &[0];

/// One series of VictoriaMetrics' `/api/v1/export`: its labels and raw sample timestamps.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Exported {
    pub metric: Labels,
    /// Milliseconds since the epoch, oldest first.
    #[serde(default)]
    pub timestamps: Vec<i64>,
}

impl Exported {
    /// The newest sample's time in Unix seconds.
    pub fn newest(&self) -> Option<f64> {
        self.timestamps.iter().max().map(|&ms| ms as f64 / 1000.0)
    }
}

/// A client for the Prometheus API and `/metrics` pages.
pub struct Client {
    transport: Box<dyn Transport>,
}

impl Default for Client {
    fn default() -> Self {
        Client::new()
    }
}

impl Client {
    /// Over HTTP, with a 15 s timeout.
    pub fn new() -> Client {
        Client::with_timeout(Duration::from_secs(15))
    }

    pub fn with_timeout(timeout: Duration) -> Client {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .build()
            .new_agent();
        Client::with_transport(Ureq(agent))
    }

    /// Over another transport (recorded answers in tests).
    pub fn with_transport(t: impl Transport + 'static) -> Client {
        Client {
            transport: Box::new(t),
        }
    }

    /// The body at `path` of `e`.
    pub fn text(&self, e: &Endpoint, path: &str) -> anyhow::Result<String> {
        self.transport.get(&e.join(path), e.auth.as_ref())
    }

    /// Calls a Prometheus API path and returns the whole answer: `isPartial` and warnings too.
    pub fn api_answer<T: DeserializeOwned>(
        &self,
        e: &Endpoint,
        path: &str,
        params: &[(&str, String)],
    ) -> anyhow::Result<ApiResponse<T>> {
        let path = with_params(path, params);
        let body = self.text(e, &path)?;
        serde_json::from_str(&body).with_context(|| format!("{}: not an API answer", e.join(&path)))
    }

    /// Calls a Prometheus API path and returns its `data`; an `error` answer is an error.
    pub fn api<T: DeserializeOwned>(
        &self,
        e: &Endpoint,
        path: &str,
        params: &[(&str, String)],
    ) -> anyhow::Result<T> {
        let url = e.join(&with_params(path, params));
        let answer: ApiResponse<T> = self.api_answer(e, path, params)?;
        match (answer.status, answer.data) {
            (ApiStatus::Success, Some(data)) => Ok(data),
            (status, _) => bail!(
                "{url}: {}: {}",
                answer.error_type.unwrap_or_else(|| format!("{status:?}")),
                answer.error.unwrap_or_else(|| "no data".into())
            ),
        }
    }

    /// `/api/v1/query` with `params`, the whole answer: `isPartial` too. An `error` answer is an
    /// error.
    pub fn query_answer(
        &self,
        e: &Endpoint,
        params: &[(&str, String)],
    ) -> anyhow::Result<ApiResponse<QueryData>> {
        let path = with_params("/api/v1/query", params);
        let url = e.join(&path);
        let body = self.text(e, &path)?;
        let answer: ApiResponse<QueryData> =
            serde_json::from_str(&body).with_context(|| format!("{url}: not an API answer"))?;
        if answer.status != ApiStatus::Success {
            bail!(
                "{url}: {}",
                answer
                    .error
                    .unwrap_or_else(|| "error without a message".into())
            );
        }
        Ok(answer)
    }

    /// `/api/v1/query` with `params` (`query`, `time`, …).
    pub fn query(&self, e: &Endpoint, params: &[(&str, String)]) -> anyhow::Result<QueryData> {
        self.api(e, "/api/v1/query", params)
    }

    /// `/api/v1/query_range` with `params` (`query`, `start`, `end`, `step`, …).
    pub fn query_range(
        &self,
        e: &Endpoint,
        params: &[(&str, String)],
    ) -> anyhow::Result<QueryData> {
        self.api(e, "/api/v1/query_range", params)
    }

    /// `/api/v1/series` with `params` (`match[]`, `start`, `end`).
    pub fn series(&self, e: &Endpoint, params: &[(&str, String)]) -> anyhow::Result<Vec<Labels>> {
        self.api(e, "/api/v1/series", params)
    }

    /// VictoriaMetrics' `/api/v1/export` with `params` (`match[]`, `start`, `end`): raw samples,
    /// never a partial answer, and not hidden by `-search.latencyOffset`.
    pub fn export(&self, e: &Endpoint, params: &[(&str, String)]) -> anyhow::Result<Vec<Exported>> {
        let path = with_params("/api/v1/export", params);
        let body = self.text(e, &path)?;
        body.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                // VictoriaMetrics before v1.80-ish writes a series' first value bare, so a
                // staleness marker there comes out as `NaN`, which is not JSON (1.79's
                // app/vmselect/prometheus/export.qtpl writes `{%f= values[0] %}`; later releases
                // write it as the rest, `null`). Only timestamps are read here.
                let l = l.replacen("\"values\":[NaN", "\"values\":[null", 1);
                serde_json::from_str(&l).with_context(|| {
                    let head: String = l.chars().take(200).collect();
                    format!("{}: not an export answer: {head}", e.join(&path))
                })
            })
            .collect()
    }

    /// POSTs [`EMPTY_WRITE_REQUEST`] to a remote-write URL: the status and text of the answer.
    pub fn probe_write(&self, url: &str) -> anyhow::Result<(u16, String)> {
        let headers = [
            ("Content-Type", "application/x-protobuf"),
            ("Content-Encoding", "snappy"),
            ("X-Prometheus-Remote-Write-Version", "0.1.0"),
        ];
        self.transport.post(url, &headers, EMPTY_WRITE_REQUEST)
    }

    /// The series of `e`'s `/metrics` page.
    pub fn metrics(&self, e: &Endpoint) -> anyhow::Result<Vec<scrape::Series>> {
        scrape::parse(&self.text(e, "/metrics")?)
    }
}

/// `path?k=v&…`, each value URL-encoded.
fn with_params(path: &str, params: &[(&str, String)]) -> String {
    let query: Vec<String> = params
        .iter()
        .map(|(k, v)| format!("{k}={}", urlencode(v)))
        .collect();
    format!("{path}?{}", query.join("&"))
}

pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Answers recorded beforehand, for tests: the first answer whose every needle is in the
/// (decoded) URL.
#[cfg(test)]
pub(crate) struct Recorded(pub Vec<(Vec<&'static str>, String)>);

#[cfg(test)]
impl Transport for Recorded {
    fn get(&self, url: &str, _: Option<&BasicAuth>) -> anyhow::Result<String> {
        let url = urldecode(url);
        self.0
            .iter()
            .find(|(needles, _)| needles.iter().all(|n| url.contains(n)))
            .map(|(_, body)| body.clone())
            .ok_or_else(|| anyhow::anyhow!("GET {url}: connection refused (nothing recorded)"))
    }

    /// Answers a POST from an entry whose needles are all in `POST <url>`; its body is the
    /// status, a space, and the text (`400 unsupported path`).
    fn post(&self, url: &str, _: &[(&str, &str)], _: &[u8]) -> anyhow::Result<(u16, String)> {
        let key = format!("POST {url}");
        let (_, body) = self
            .0
            .iter()
            .find(|(needles, _)| needles.iter().all(|n| key.contains(n)))
            .ok_or_else(|| anyhow::anyhow!("{key}: connection refused (nothing recorded)"))?;
        let (status, text) = body.split_once(' ').unwrap_or((body, ""));
        Ok((status.parse()?, text.to_string()))
    }
}

#[cfg(test)]
fn urldecode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match (b[i], s.get(i + 1..i + 3)) {
            (b'%', Some(hex)) if u8::from_str_radix(hex, 16).is_ok() => {
                out.push(u8::from_str_radix(hex, 16).unwrap());
                i += 3;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urlencode_escapes_promql() {
        assert_eq!(
            urlencode("rate(x{a=\"b\"}[5m])"),
            "rate%28x%7Ba%3D%22b%22%7D%5B5m%5D%29"
        );
        assert_eq!(urldecode(&urlencode("a{b=\"c\"} d")), "a{b=\"c\"} d");
    }

    fn client(body: &str) -> Client {
        Client::with_transport(Recorded(vec![(vec!["/api/v1/"], body.to_string())]))
    }

    #[test]
    fn export_reads_a_series_that_starts_with_a_staleness_marker() {
        // As VictoriaMetrics 1.79 writes it: the first value bare, the others as null.
        let body = "{\"metric\":{\"__name__\":\"up\"},\"values\":[NaN,1,null],\"timestamps\":[1000,2000,3000]}\n";
        let e = Endpoint::new("http://vm");
        let x = client(body).export(&e, &[]).unwrap();
        assert_eq!(x[0].timestamps, [1000, 2000, 3000]);
        assert!(client("{\"metric\":{},\"values\":[Na")
            .export(&e, &[])
            .is_err());
    }

    #[test]
    fn query_reads_vectors_and_matrices() {
        let e = Endpoint::new("http://vm");
        let v = client(r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"region":"r1"},"value":[1700000000.5,"12"]}]}}"#)
            .query(&e, &[("query", "x".into())])
            .unwrap();
        let v = v.vector();
        assert_eq!(v[0].metric["region"], "r1");
        assert_eq!(
            (v[0].value.time(), v[0].value.value()),
            (1700000000.5, Some(12.0))
        );
        let m = client(r#"{"status":"success","isPartial":false,"data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"+Inf"],[2,"NaN"]]}]}}"#)
            .query_range(&e, &[])
            .unwrap();
        assert_eq!(m.series(), 1);
        assert_eq!(m.matrix()[0].values[0].value(), Some(f64::INFINITY));
    }

    #[test]
    fn api_error_answers_are_errors_naming_type_and_message() {
        let e = Endpoint::new("http://vm");
        let err =
            client(r#"{"status":"error","errorType":"bad_data","error":"parse error at char 3"}"#)
                .query(&e, &[("query", "x{".into())])
                .unwrap_err();
        assert_eq!(
            format!("{err:#}"),
            "http://vm/api/v1/query?query=x%7B: bad_data: parse error at char 3"
        );
    }
}
