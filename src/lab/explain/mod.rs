//! `labctl explain`: why a series is (not) visible, hop by hop along the lab's path.
//!
//! A selector travels five hops, and [`explain`] stops at the first where it is lost, with the
//! evidence of every hop it walked and the fix for the one that failed:
//!
//! 1. **exporter**: the metric is on the page, with labels the selector accepts;
//! 2. **scrapers**: which vmagents and the Prometheus writer scrape it, whether their targets are
//!    up, and the series' stored form (the labels the lab adds or rewrites: `region`, `cluster`,
//!    `environment`, `job`, `availability_zone`, `instance`);
//! 3. **write path**: each sender's remote-write URL, what it answered so far and what it
//!    answers to an empty write request now (a 4xx shows its text, such as "unsupported path");
//! 4. **storage**: the series is known (`/api/v1/series`) in the lab's tenant, and its newest raw
//!    sample (`/api/v1/export`, or a range selector on the receiver);
//! 5. **query**: what `/api/v1/query` answers at `--at`, as a dashboard asks it (no `nocache`),
//!    compared with the raw samples: `-search.latencyOffset`, `isPartial`, the lookback window,
//!    a tenant or path mismatch in the query URL.
//!
//! The same hops run for VictoriaMetrics (vmagents and writer → vminsert or the single node) and
//! for the Prometheus receiver (writer → receiver). Like `verify`, it works over HTTP only and
//! never looks at [`crate::lab::supervise`]'s state. The hops are in [`hops`], the selector in
//! [`selector`]; this module holds the types and the walk.

use serde::Serialize;

use crate::lab::endpoints::{Endpoint, Endpoints};
use crate::lab::query::Client;
use crate::lab::topology::Topology;
use crate::lab::verify::Clock;

pub mod hops;
pub mod selector;

pub use selector::{Selector, SelectorError};

/// Where the selector is looked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// VictoriaMetrics (cluster or single node): the vmagents' and the writer's series.
    Vm,
    /// The Prometheus receiver: the writer's series.
    Receiver,
}

impl Backend {
    pub fn title(self) -> &'static str {
        match self {
            Backend::Vm => "VictoriaMetrics",
            Backend::Receiver => "Prometheus receiver",
        }
    }
}

/// A hop's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mark {
    Pass,
    Fail,
}

impl Mark {
    pub fn symbol(self) -> &'static str {
        match self {
            Mark::Pass => "✔",
            Mark::Fail => "✘",
        }
    }
}

/// One hop: what was found, the evidence, and for a failed hop, why and what fixes it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hop {
    pub id: u8,
    pub name: &'static str,
    pub mark: Mark,
    /// One line: what this hop found.
    pub summary: String,
    /// What was asked and answered: URLs, counts, ages, answers.
    pub evidence: Vec<String>,
    /// For a failed hop: the flag, URL or label to change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Hop {
    pub fn pass(id: u8, name: &'static str, summary: impl Into<String>) -> Hop {
        Hop {
            id,
            name,
            mark: Mark::Pass,
            summary: summary.into(),
            evidence: Vec::new(),
            fix: None,
        }
    }

    pub fn fail(
        id: u8,
        name: &'static str,
        summary: impl Into<String>,
        fix: impl Into<String>,
    ) -> Hop {
        Hop {
            mark: Mark::Fail,
            fix: Some(fix.into()),
            ..Hop::pass(id, name, summary)
        }
    }

    pub fn with(mut self, evidence: impl IntoIterator<Item = String>) -> Hop {
        self.evidence.extend(evidence);
        self
    }

    pub fn passed(&self) -> bool {
        self.mark == Mark::Pass
    }
}

/// The walk along one backend's path: the hops up to the first that failed.
#[derive(Debug, Clone, Serialize)]
pub struct Walk {
    pub backend: Backend,
    pub visible: bool,
    pub hops: Vec<Hop>,
}

/// The answer of `labctl explain`.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub selector: String,
    /// The query time, Unix seconds.
    pub at: f64,
    pub visible: bool,
    pub walks: Vec<Walk>,
}

/// What every hop reads: the lab's endpoints and topology, the client, the selector and time.
pub struct Lab<'a> {
    pub endpoints: &'a Endpoints,
    pub topology: &'a Topology,
    pub client: &'a Client,
    pub selector: &'a Selector,
    /// The query time, Unix seconds.
    pub at: f64,
    pub clock: Clock,
}

impl Lab<'_> {
    /// The Prometheus writer (lab.toml places it; no flag moves it).
    pub fn writer(&self) -> Endpoint {
        let t = self.topology;
        Endpoint::new(t.http_url(t.prometheus.writer.port, ""))
    }
}

/// Walks every backend in `backends` and says whether the selector is visible in all.
pub fn explain(lab: &Lab, backends: &[Backend]) -> Report {
    let walks: Vec<Walk> = backends.iter().map(|&b| walk(lab, b)).collect();
    Report {
        selector: lab.selector.text.clone(),
        at: lab.at,
        visible: walks.iter().all(|w| w.visible),
        walks,
    }
}

/// The hops of one backend, stopping at the first that fails.
pub fn walk(lab: &Lab, backend: Backend) -> Walk {
    let mut out = Vec::new();
    let mut state = hops::State::default();
    for (id, hop) in hops::HOPS.iter().enumerate() {
        let h = hop(lab, backend, &mut state).unwrap_or_else(|e| {
            Hop::fail(
                id as u8 + 1,
                hops::NAMES[id],
                format!("{e:#}"),
                "see the error: a component did not answer",
            )
        });
        let failed = !h.passed();
        out.push(h);
        if failed {
            break;
        }
    }
    Walk {
        backend,
        visible: out.len() == hops::HOPS.len() && out.iter().all(Hop::passed),
        hops: out,
    }
}

/// The report for people: each hop with ✔/✘, its evidence, the fix of the first ✘.
pub fn text(r: &Report) -> String {
    let mut out = format!("explain {} at {}\n", r.selector, time_text(r.at));
    for w in &r.walks {
        out += &format!("\n{}\n", w.backend.title());
        for h in &w.hops {
            out += &format!(
                "  {} {}. {}: {}\n",
                h.mark.symbol(),
                h.id,
                h.name,
                h.summary
            );
            for e in &h.evidence {
                out += &format!("       {e}\n");
            }
            if let Some(f) = &h.fix {
                out += &format!("     fix: {f}\n");
            }
        }
        let last = w.hops.last();
        out += &match (w.visible, last) {
            (true, _) => "  → visible\n".to_string(),
            (false, Some(h)) => format!("  → not visible: lost at hop {} ({})\n", h.id, h.name),
            (false, None) => "  → not visible\n".to_string(),
        };
    }
    out
}

/// Unix seconds as RFC 3339 (UTC, milliseconds).
pub fn time_text(t: f64) -> String {
    let d = std::time::Duration::from_secs_f64(t.max(0.0));
    humantime::format_rfc3339_millis(std::time::UNIX_EPOCH + d).to_string()
}
