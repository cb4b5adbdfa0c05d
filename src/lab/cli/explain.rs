//! `labctl explain`: why a series is, or is not, visible, hop by hop.

use std::time::Duration;

use clap::{Args, ValueEnum};

use super::endpoints::EndpointArgs;
use super::{LabArgs, Outcome};
use crate::lab::explain::{self, Backend, Lab, Selector};
use crate::lab::query::Client;
use crate::lab::verify::Clock;

/// Walk a selector along the lab's path and say where it is lost, and what fixes it.
///
/// The hops, in path order; it stops at the first that fails (✘), with the evidence of each
/// and the flag, URL or label to change:
///   1. exporter: the metric is on the exporter's page, with those labels (else the closest
///      name it serves);
///   2. scrapers: which vmagents and the writer scrape it, their targets up, its stored form
///      (labels the lab adds or relabels: region, cluster, environment, job, availability_zone);
///   3. write path: each sender's remote-write URL, its answers so far, and its answer to an
///      empty write request now (a 4xx shows its text, e.g. "unsupported path");
///   4. storage: the series is known (/api/v1/series) in the lab's tenant, and its newest raw
///      sample (/api/v1/export);
///   5. query: /api/v1/query at --at, as dashboards ask (no nocache): -search.latencyOffset,
///      isPartial, the lookback, a tenant or path mismatch in --query-url.
///
/// Exit code 0 when the selector is visible in every backend asked, 1 when it is not (and why
/// is printed), 2 on bad input (a selector that does not parse, an unknown flag value).
///
///   $ labctl explain 'http_requests_total{region="eu-west-1"}'
///   $ labctl explain 'http_requests_total{job="exporter"}'         # the name before relabelling
///   $ labctl explain 'node_cpu_seconds_total{mode="idle"}' --backend both --json
///   $ labctl explain up --at now-10m
///   $ labctl explain app_queue_size --query-url http://127.0.0.1:8427/select/1/prometheus
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct ExplainArgs {
    /// A PromQL series selector: `name{label="value",…}`.
    #[arg(value_name = "SELECTOR")]
    pub selector: String,

    /// The query time: `now`, `now-30s`, Unix seconds or RFC 3339 (`2025-01-31T12:00:00Z`).
    #[arg(long, value_name = "TIME", default_value = "now", value_parser = parse_at, help_heading = "Query")]
    pub at: At,

    /// Where to look: VictoriaMetrics (`vm`), the Prometheus receiver, or `both`.
    #[arg(long, value_enum, value_name = "BACKEND", default_value_t = BackendChoice::Vm, help_heading = "Query")]
    pub backend: BackendChoice,

    /// Print JSON instead of the hops for people.
    #[arg(long, help_heading = "Output")]
    pub json: bool,

    #[command(flatten)]
    pub lab: LabArgs,

    #[command(flatten)]
    pub endpoints: EndpointArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BackendChoice {
    Vm,
    Receiver,
    Both,
}

impl BackendChoice {
    fn backends(self) -> Vec<Backend> {
        match self {
            BackendChoice::Vm => vec![Backend::Vm],
            BackendChoice::Receiver => vec![Backend::Receiver],
            BackendChoice::Both => vec![Backend::Vm, Backend::Receiver],
        }
    }
}

/// `--at`: now, some time before now, or a fixed time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum At {
    Ago(Duration),
    Unix(f64),
}

impl At {
    fn unix(self, now: f64) -> f64 {
        match self {
            At::Ago(d) => now - d.as_secs_f64(),
            At::Unix(t) => t,
        }
    }
}

/// Parses `now`, `now-DURATION`, Unix seconds or RFC 3339.
pub fn parse_at(s: &str) -> Result<At, String> {
    let s = s.trim();
    if s == "now" {
        return Ok(At::Ago(Duration::ZERO));
    }
    if let Some(d) = s.strip_prefix("now-") {
        return super::parse_duration(d).map(At::Ago);
    }
    if let Ok(t) = s.parse::<f64>() {
        return Ok(At::Unix(t));
    }
    humantime::parse_rfc3339_weak(s)
        .map_err(|e| format!("{e}: expected now, now-30s, Unix seconds or RFC 3339"))
        .and_then(|t| {
            t.duration_since(std::time::UNIX_EPOCH)
                .map(|d| At::Unix(d.as_secs_f64()))
                .map_err(|_| "before 1970".to_string())
        })
}

pub fn run(args: ExplainArgs) -> anyhow::Result<Outcome> {
    let selector = Selector::parse(&args.selector)?;
    let (t, e) = args.endpoints.resolve(&args.lab)?;
    let client = Client::new();
    let clock = Clock::System;
    let lab = Lab {
        endpoints: &e,
        topology: &t,
        client: &client,
        selector: &selector,
        at: args.at.unix(clock.now()),
        clock,
    };
    let report = explain::explain(&lab, &args.backend.backends());
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", explain::text(&report));
    }
    Ok(if report.visible {
        Outcome::Ok
    } else {
        Outcome::Failed
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_at_takes_now_ago_unix_and_rfc3339() {
        assert_eq!(parse_at("now"), Ok(At::Ago(Duration::ZERO)));
        assert_eq!(parse_at("now-30s"), Ok(At::Ago(Duration::from_secs(30))));
        assert_eq!(parse_at("1700000000.5"), Ok(At::Unix(1700000000.5)));
        assert_eq!(parse_at("2023-11-14T22:13:20Z"), Ok(At::Unix(1700000000.0)));
        assert!(parse_at("yesterday").is_err());
    }
}
