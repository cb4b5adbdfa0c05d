//! A scenario's result: one row per write path, the probe's findings, the promise and its
//! verdict; a table for people ([`Report::table`]) and JSON for machines (serde).

use serde::Serialize;

use super::alerting::AlertSeen;
use super::count::Comparison;
use super::scenarios::{Plan, Scenario};
use super::watch::ProbeSeen;

/// One write path's numbers.
#[derive(Debug, Clone, Serialize)]
pub struct PathRow {
    /// A region, `writer → VictoriaMetrics` or `writer → receiver`.
    pub path: String,
    #[serde(flatten)]
    pub count: Comparison,
    /// Seconds: the largest age of the path's newest stored sample while watched.
    pub largest_delay_s: f64,
    pub queue_peak: f64,
    /// `bytes` (vmagent) or `samples` (writer).
    pub queue_unit: &'static str,
    /// Seconds from restore until the queue was empty and the path fresh; none if it never was.
    pub drain_s: Option<f64>,
    /// Where `expected` comes from.
    pub witness: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Pass,
    Fail,
    /// A scenario that measures without promising.
    Reported,
    /// Does not apply to this lab.
    Skip,
}

/// One part of the promise and whether it held.
#[derive(Debug, Clone, Serialize)]
pub struct Term {
    pub what: String,
    pub held: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub scenario: &'static str,
    pub summary: &'static str,
    pub storage: String,
    pub control: &'static str,
    pub duration_s: f64,
    pub plan: Option<Plan>,
    pub promise: &'static str,
    pub facts: &'static str,
    pub paths: Vec<PathRow>,
    pub probe: ProbeSeen,
    /// The alerts the scenario must raise and clear, as seen during the run.
    pub alerts: Vec<AlertSeen>,
    pub terms: Vec<Term>,
    pub notes: Vec<String>,
    pub verdict: Verdict,
}

impl Report {
    /// A scenario that does not apply to this lab.
    pub fn skipped(s: &Scenario, storage: String, control: &'static str, why: String) -> Report {
        Report {
            scenario: s.name,
            summary: s.summary,
            storage,
            control,
            duration_s: 0.0,
            plan: None,
            promise: s.promise,
            facts: s.facts,
            paths: Vec::new(),
            probe: ProbeSeen::default(),
            alerts: Vec::new(),
            terms: Vec::new(),
            notes: vec![why],
            verdict: Verdict::Skip,
        }
    }

    /// Pass when every term held; `Reported` for a scenario without a promise.
    pub fn decide(&mut self) {
        self.verdict = if self.promise.is_empty() {
            Verdict::Reported
        } else if self.terms.iter().all(|t| t.held) {
            Verdict::Pass
        } else {
            Verdict::Fail
        };
    }

    /// The row of `path`.
    pub fn row(&self, path: &str) -> Option<&PathRow> {
        self.paths.iter().find(|r| r.path == path)
    }

    /// The report for people.
    pub fn table(&self) -> String {
        let mut s = format!(
            "scenario {} ({} storage, {} control, held {:.0}s): {}\n",
            self.scenario, self.storage, self.control, self.duration_s, self.summary
        );
        if let Some(p) = &self.plan {
            s += &format!("  {}\n", p.note);
        }
        if !self.paths.is_empty() {
            s += &format!(
                "{:<26} {:>9} {:>9} {:>6} {:>5} {:>5} {:>9} {:>16} {:>8}\n",
                "PATH",
                "EXPECTED",
                "STORED",
                "LOST",
                "DUP",
                "EXTRA",
                "MAX DELAY",
                "QUEUE PEAK",
                "DRAINED"
            );
        }
        for r in &self.paths {
            let drain = r
                .drain_s
                .map(|d| format!("{d:.1}s"))
                .unwrap_or_else(|| "never".into());
            let queue = format!("{:.0} {}", r.queue_peak, r.queue_unit);
            s += &format!(
                "{:<26} {:>9} {:>9} {:>6} {:>5} {:>5} {:>8.1}s {:>16} {:>8}\n",
                r.path,
                r.count.expected,
                r.count.stored,
                r.count.lost,
                r.count.duplicated,
                r.count.extra,
                r.largest_delay_s,
                queue,
                drain
            );
        }
        let p = &self.probe;
        if p.queries_complete + p.queries_partial + p.queries_failed > 0 {
            s += &format!(
                "queries through vmauth while it lasted: {} complete, {} partial, {} failed{}\n",
                p.queries_complete,
                p.queries_partial,
                p.queries_failed,
                p.first_failure
                    .as_ref()
                    .map(|f| format!(" (first: {f})"))
                    .unwrap_or_default()
            );
        }
        if let Some(c) = &p.stale_caught {
            s += &format!("verify check 3 while it lasted: {c}\n");
        }
        for n in &self.notes {
            s += &format!("note: {n}\n");
        }
        if !self.promise.is_empty() {
            s += &format!("promise: {}\n", self.promise);
        }
        for t in &self.terms {
            s += &format!("  {} {}\n", if t.held { "ok  " } else { "FAIL" }, t.what);
        }
        let verdict = match self.verdict {
            Verdict::Pass => "PASS",
            Verdict::Fail => "FAIL",
            Verdict::Reported => "REPORTED (no promise)",
            Verdict::Skip => "SKIP",
        };
        s += &format!("{verdict}  {}\n", self.scenario);
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(promise: &'static str, held: &[bool]) -> Report {
        let s = super::super::scenarios::find("receiver-restart").unwrap();
        let mut r = Report::skipped(s, "single".into(), "native", String::new());
        r.promise = promise;
        r.notes.clear();
        r.terms = held
            .iter()
            .map(|&h| Term {
                what: "x".into(),
                held: h,
            })
            .collect();
        r.paths.push(PathRow {
            path: "us-east-1".into(),
            count: Comparison {
                expected: 9110,
                stored: 9110,
                lost: 0,
                duplicated: 0,
                extra: 0,
            },
            largest_delay_s: 12.34,
            queue_peak: 120_000.0,
            queue_unit: "bytes",
            drain_s: Some(1.5),
            witness: "w".into(),
        });
        r.decide();
        r
    }

    #[test]
    fn decide_fails_when_any_term_broke_and_reports_without_a_promise() {
        assert_eq!(report("p", &[true, true]).verdict, Verdict::Pass);
        assert_eq!(report("p", &[true, false]).verdict, Verdict::Fail);
        assert_eq!(report("", &[false]).verdict, Verdict::Reported);
    }

    #[test]
    fn table_shows_each_path_and_the_verdict() {
        let t = report("p", &[true]).table();
        assert!(
            t.contains("us-east-1                       9110      9110      0     0     0     12.3s     120000 bytes     1.5s"),
            "{t}"
        );
        assert!(t.ends_with("PASS  receiver-restart\n"), "{t}");
        let j = serde_json::to_value(report("p", &[true])).unwrap();
        assert_eq!(j["paths"][0]["lost"], 0);
        assert_eq!(j["verdict"], "pass");
    }
}
