//! A small client for the Prometheus HTTP API (`/api/v1/query`, `query_range`, `series`) and for
//! `/metrics` pages, shared by `verify`, `dashboards` and `compare`.
//!
//! Synchronous on purpose: the callers ask a handful of questions in order and report each
//! answer, so there is nothing to overlap.

use std::time::Duration;

use anyhow::{bail, Context};
use serde_json::Value;

use crate::scrape;

/// An HTTP client for the Prometheus API and `/metrics` pages, with a 15 s timeout.
pub struct Client {
    agent: ureq::Agent,
}

impl Default for Client {
    fn default() -> Self {
        Client::new()
    }
}

impl Client {
    pub fn new() -> Client {
        Client {
            agent: ureq::Agent::config_builder()
                .timeout_global(Some(Duration::from_secs(15)))
                .http_status_as_error(false)
                .build()
                .new_agent(),
        }
    }

    pub fn text(&self, url: &str, auth: Option<&(String, String)>) -> anyhow::Result<String> {
        let mut req = self.agent.get(url);
        if let Some((u, p)) = auth {
            req = req.header("Authorization", basic_auth(u, p));
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

    /// Calls a Prometheus API endpoint and returns `data`.
    pub fn api(
        &self,
        base: &str,
        path: &str,
        params: &[(&str, String)],
        auth: Option<&(String, String)>,
    ) -> anyhow::Result<Value> {
        let query: Vec<String> = params
            .iter()
            .map(|(k, v)| format!("{k}={}", urlencode(v)))
            .collect();
        let url = format!("{base}{path}?{}", query.join("&"));
        let body = self.text(&url, auth)?;
        let v: Value = serde_json::from_str(&body).with_context(|| format!("{url}: not JSON"))?;
        if v["status"] != "success" {
            bail!("{url}: {}", v["error"].as_str().unwrap_or("error"));
        }
        Ok(v["data"].clone())
    }

    pub fn metrics(&self, base: &str) -> anyhow::Result<Vec<scrape::Series>> {
        scrape::parse(&self.text(&format!("{base}/metrics"), None)?)
    }
}

pub fn basic_auth(user: &str, pass: &str) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let input = format!("{user}:{pass}");
    let bytes = input.as_bytes();
    let mut out = String::from("Basic ");
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_auth_encodes_like_rfc_7617() {
        assert_eq!(
            basic_auth("Aladdin", "open sesame"),
            "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
        assert_eq!(basic_auth("lab", "lab"), "Basic bGFiOmxhYg==");
    }

    #[test]
    fn urlencode_escapes_promql() {
        assert_eq!(
            urlencode("rate(x{a=\"b\"}[5m])"),
            "rate%28x%7Ba%3D%22b%22%7D%5B5m%5D%29"
        );
    }
}
