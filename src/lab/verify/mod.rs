//! End-to-end checks of a running lab, over HTTP only.
//!
//! Works against any lab (native, the NixOS VMs, or services started some other way): it needs
//! [`Endpoints`], not processes, and never looks at [`crate::lab::supervise`]'s state. Each
//! check is one function of a shared [`Context`] ([`checks`]), listed with its number and name in
//! [`CHECKS`], and returns evidence (counts, URLs, ages) so a failure says what was wrong, not
//! only that something was.
//!
//! 1. Every exporter series arrives once per region, with the region's labels.
//! 2. The receiver (and VictoriaMetrics) hold the writer's series with the writer's labels.
//! 3. The newest raw sample per region is younger than the path's delay budget ([`delays`]).
//! 4. Each vmagent sent only to its assigned vminsert; each vminsert accepted rows.
//! 5. Both vmstorage nodes hold rows; both vmselects served queries through vmauth.
//! 6. VictoriaMetrics and the receiver return the same value at the same timestamp for sampled
//!    series of the writer.
//! 7. The writer answers a query with series only the receiver holds (remote read).
//! 8. vmalert and the Prometheus receiver loaded the same rules without errors, and
//!    Alertmanager holds the always-firing Watchdog alert from each.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::lab::endpoints::Endpoints;
use crate::lab::query::Client;
use crate::scrape;

pub mod checks;
pub mod delays;
pub mod held;

/// A check: its number, its name, and the function that runs it.
pub struct CheckDef {
    pub id: u8,
    pub name: &'static str,
    pub run: fn(&Context) -> anyhow::Result<Verdict>,
}

/// Every check, in the order they run.
pub const CHECKS: [CheckDef; 8] = [
    CheckDef {
        id: 1,
        name: "exporter series arrive once per region",
        run: checks::exporter_series_once_per_region,
    },
    CheckDef {
        id: 2,
        name: "the writer's series reach the receiver and VictoriaMetrics",
        run: checks::writer_series_in_both_stores,
    },
    CheckDef {
        id: 3,
        name: "newest sample per region is fresh",
        run: checks::newest_sample_is_fresh,
    },
    CheckDef {
        id: 4,
        name: "each vmagent writes only to its vminsert, which accepts rows",
        run: checks::vmagents_write_to_their_vminsert,
    },
    CheckDef {
        id: 5,
        name: "both vmstorages hold rows; both vmselects serve queries",
        run: checks::storage_nodes_hold_rows_and_vmselects_serve,
    },
    CheckDef {
        id: 6,
        name: "VictoriaMetrics and the receiver agree on the writer's samples",
        run: checks::stores_agree_on_the_writers_samples,
    },
    CheckDef {
        id: 7,
        name: "the writer reads what only the receiver holds (remote read)",
        run: checks::writer_reads_from_the_receiver,
    },
    CheckDef {
        id: 8,
        name: "rules load on both evaluators; Watchdog reaches Alertmanager from both",
        run: checks::rules_load_and_watchdog_reaches_alertmanager,
    },
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Fail,
    Skip,
}

/// What a check found: its status and the evidence.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub status: Status,
    pub detail: String,
}

impl Verdict {
    /// Pass when `ok`, else fail.
    pub fn pass_if(ok: bool, detail: impl Into<String>) -> Verdict {
        Verdict {
            status: if ok { Status::Pass } else { Status::Fail },
            detail: detail.into(),
        }
    }

    pub fn skip(detail: impl Into<String>) -> Verdict {
        Verdict {
            status: Status::Skip,
            detail: detail.into(),
        }
    }
}

/// The outcome of one check.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub id: u8,
    pub name: &'static str,
    pub status: Status,
    /// Evidence: what was counted, compared or found.
    pub detail: String,
}

/// The wall clock, or a fixed second for tests.
#[derive(Debug, Clone, Copy)]
pub enum Clock {
    System,
    Fixed(f64),
}

impl Clock {
    /// Unix seconds.
    pub fn now(self) -> f64 {
        match self {
            Clock::System => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or(0.0),
            Clock::Fixed(t) => t,
        }
    }
}

/// What every check shares: the endpoints, the client, the exporter's page read once.
pub struct Context<'a> {
    pub endpoints: &'a Endpoints,
    pub client: &'a Client,
    pub clock: Clock,
    /// The exporter's series, or why they could not be read.
    page: Result<Vec<scrape::Series>, String>,
    /// Above this many series per scraper, checks 1 and 2 count instead of listing
    /// ([`held::LIST_LIMIT`]).
    pub list_limit: usize,
}

impl<'a> Context<'a> {
    /// Reads the exporter's page, which checks 1, 2 and 6 compare against.
    pub fn new(endpoints: &'a Endpoints, client: &'a Client, clock: Clock) -> Context<'a> {
        let e = &endpoints.exporter;
        let page = client
            .text(e, "")
            .and_then(|t| scrape::parse(&t))
            .map_err(|err| format!("cannot read the exporter at {}: {err:#}", e.url));
        Context {
            endpoints,
            client,
            clock,
            page,
            list_limit: held::LIST_LIMIT,
        }
    }

    /// The exporter's series.
    pub fn page(&self) -> anyhow::Result<&[scrape::Series]> {
        self.page.as_deref().map_err(|e| anyhow::anyhow!("{e}"))
    }

    /// The `instance` label scrapers give the exporter: the host:port of its URL.
    pub fn exporter_instance(&self) -> String {
        let url = &self.endpoints.exporter.url;
        let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
        rest.split('/').next().unwrap_or(rest).to_string()
    }
}

impl CheckDef {
    /// Runs the check; an error is a failure whose evidence is the error.
    pub fn check(&self, cx: &Context) -> Check {
        let v = (self.run)(cx).unwrap_or_else(|e| Verdict::pass_if(false, format!("{e:#}")));
        Check {
            id: self.id,
            name: self.name,
            status: v.status,
            detail: v.detail,
        }
    }
}

/// Runs every check once, over HTTP.
pub fn run(e: &Endpoints) -> Vec<Check> {
    let client = Client::new();
    run_checks(&Context::new(e, &client, Clock::System))
}

/// Runs every check once in a context.
pub fn run_checks(cx: &Context) -> Vec<Check> {
    CHECKS.iter().map(|c| c.check(cx)).collect()
}

/// Whether a set of checks is green: nothing failed.
pub fn passed(checks: &[Check]) -> bool {
    checks.iter().all(|c| c.status != Status::Fail)
}

/// The checks as a table for people.
pub fn table(checks: &[Check]) -> String {
    let mut out = String::new();
    for c in checks {
        let mark = match c.status {
            Status::Pass => "PASS",
            Status::Fail => "FAIL",
            Status::Skip => "SKIP",
        };
        out += &format!("{mark}  {}. {}\n      {}\n", c.id, c.name, c.detail);
    }
    let n = |s: Status| checks.iter().filter(|c| c.status == s).count();
    out += &format!(
        "{} passed, {} failed, {} skipped\n",
        n(Status::Pass),
        n(Status::Fail),
        n(Status::Skip)
    );
    out
}
