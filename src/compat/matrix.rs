//! The compatibility matrix: each receiver × each case, from real requests.
//!
//! Every case runs against a fresh receiver ([`super::receivers`]): its steps are requests of
//! one round of the model (scale 1, 911 samples) posted once, with no retry, so each answer
//! is the receiver's own. Then what it stored is read back and counted. The cases are the
//! protocol versions and the pitfalls users report: out-of-order samples (P#12052, P#9218),
//! samples older than the receiver's window, and two senders writing the same series
//! (P#9214, prometheus-operator#5691).

use std::fmt::Write as _;
use std::time::Duration;

use super::receivers::{total, Kind, Receiver};
use crate::exporter::fleet::{FleetOptions, Model};
use crate::exporter::push::batch::{Batch, Batcher};
use crate::exporter::push::client::{Answer, Poster};
use crate::exporter::push::{unix_now, wire_v1, wire_v2, Protocol};

/// One request: a round of the model with `seed` at `now + offset_secs`.
#[derive(Debug, Clone, Copy)]
pub struct Step {
    pub protocol: Protocol,
    pub seed: u64,
    pub offset_secs: i64,
}

/// A named sequence of requests.
#[derive(Debug, Clone, Copy)]
pub struct Case {
    pub name: &'static str,
    pub about: &'static str,
    pub steps: &'static [Step],
}

const fn step(protocol: Protocol, seed: u64, offset_secs: i64) -> Step {
    Step {
        protocol,
        seed,
        offset_secs,
    }
}

pub const CASES: &[Case] = &[
    Case {
        name: "1.0",
        about: "one round, prometheus.WriteRequest",
        steps: &[step(Protocol::V1, 1, 0)],
    },
    Case {
        name: "2.0",
        about: "one round, io.prometheus.write.v2.Request",
        steps: &[step(Protocol::V2, 1, 0)],
    },
    Case {
        name: "out of order",
        about: "a round now, then the same series 60 s earlier (P#12052, P#9218)",
        steps: &[step(Protocol::V1, 1, 0), step(Protocol::V1, 1, -60)],
    },
    Case {
        name: "older than the window",
        about: "a round now, then the same series 3 h earlier (Prometheus' head accepts 1 h back)",
        steps: &[step(Protocol::V1, 1, 0), step(Protocol::V1, 1, -3 * 3600)],
    },
    Case {
        name: "two senders",
        about: "the same series at the same second with other values, as two replicas or a receiver evaluating the same rules send (P#9214, prometheus-operator#5691)",
        steps: &[step(Protocol::V1, 1, 0), step(Protocol::V1, 2, 0)],
    },
];

/// What one step got.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub samples: u64,
    pub answer: Result<Answer, String>,
}

/// One cell of the matrix.
#[derive(Debug, Clone)]
pub struct Cell {
    pub kind: Kind,
    pub case: Case,
    pub version: String,
    pub steps: Vec<Outcome>,
    pub stored: usize,
    pub series_stored: usize,
}

/// One round of the model as a single request.
fn request(step: &Step, now: u64) -> Batch {
    let model = Model::new(FleetOptions {
        seed: step.seed,
        ..FleetOptions::default()
    });
    let second = (now as i64 + step.offset_secs) as u64;
    let mut out = None;
    let emit = |b: Batch| out = Some(b);
    match step.protocol {
        Protocol::V1 => {
            let mut b = Batcher::new(wire_v1::Writer::default(), u64::MAX, emit);
            b.at(second as i64 * 1000);
            model.emit(second, &mut b);
            b.flush();
        }
        Protocol::V2 => {
            let mut b = Batcher::new(wire_v2::Writer::default(), u64::MAX, emit);
            b.at(second as i64 * 1000);
            model.emit(second, &mut b);
            b.flush();
        }
    }
    out.expect("a round holds samples")
}

/// Runs `case` against a fresh `kind`.
pub fn run_case(kind: Kind, case: Case) -> anyhow::Result<Cell> {
    let receiver = Receiver::start(kind)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let now = unix_now();
    let mut steps = Vec::new();
    for s in case.steps {
        let batch = request(s, now);
        let poster = Poster::new(s.protocol);
        let url = receiver.write_url.parse()?;
        let answer = rt
            .block_on(poster.post(&url, batch.body.clone()))
            .map_err(|e| format!("{e:#}"));
        steps.push(Outcome {
            samples: batch.samples,
            answer,
        });
    }
    let sent: u64 = steps.iter().map(|o| o.samples).sum();
    // vmagent batches for a second; a cluster takes seconds to make new series searchable.
    let wait = match kind {
        Kind::Vmagent | Kind::VmCluster => Duration::from_secs(10),
        _ => Duration::from_secs(2),
    };
    let stored = receiver.stored_when(wait, |s| total(s) as u64 >= sent)?;
    Ok(Cell {
        kind,
        case,
        version: receiver.version.clone(),
        steps,
        stored: total(&stored),
        series_stored: stored.len(),
    })
}

fn cell_answer(o: &Outcome) -> String {
    match &o.answer {
        Err(e) => format!("no answer: {e}"),
        Ok(a) => {
            let mut s = a.status.as_u16().to_string();
            if !a.body.is_empty() {
                let body: String = a.body.chars().take(90).collect();
                let _ = write!(s, " `{}`", body.replace('|', "\\|").replace('\n', " "));
            }
            if !a.written_headers.is_empty() {
                let _ = write!(s, " ({})", a.written_headers.join(", "));
            }
            s
        }
    }
}

/// A short reading of a cell: every sample kept, some refused, or accepted but lost.
pub fn verdict(c: &Cell) -> &'static str {
    let sent: u64 = c.steps.iter().map(|s| s.samples).sum();
    let all_2xx = c
        .steps
        .iter()
        .all(|s| matches!(&s.answer, Ok(a) if a.status.is_success()));
    match (c.stored as u64 >= sent, all_2xx) {
        (true, _) => "all stored",
        (false, true) => "**accepted, not stored**",
        (false, false) => "refused (4xx/5xx), rest stored",
    }
}

/// The matrix as Markdown.
pub fn markdown(cells: &[Cell], skipped: &[(Kind, String)]) -> String {
    let mut o = String::from(
        "# Remote-write compatibility\n\n\
         Generated by `mock-exporter compat --out docs/compatibility.md` from real requests: each\n\
         case starts a fresh receiver on loopback, posts one round of the model (scale 1, 911\n\
         samples per request) once per step without retrying, and reads back what was stored\n\
         (`/api/v1/export` for VictoriaMetrics, a range selector over everything for Prometheus).\n\
         \"Answers\" lists each step's status, body start and `X-Prometheus-Remote-Write-*` headers.\n\n",
    );
    let mut versions: Vec<String> = cells
        .iter()
        .map(|c| format!("- {}: {}", c.kind.name(), c.version))
        .collect();
    versions.dedup();
    let _ = writeln!(o, "Receivers:\n\n{}\n", versions.join("\n"));
    for (k, why) in skipped {
        let _ = writeln!(o, "- SKIPPED {}: {why}", k.name());
    }
    o.push_str("\n## Cases\n\n");
    for c in CASES {
        let _ = writeln!(o, "- **{}**: {}", c.name, c.about);
    }
    o.push_str("\n## Matrix\n\n| receiver | case | answers | sent | stored (series) | reading |\n|---|---|---|---|---|---|\n");
    for c in cells {
        let answers: Vec<String> = c.steps.iter().map(cell_answer).collect();
        let sent: u64 = c.steps.iter().map(|s| s.samples).sum();
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} ({}) | {} |",
            c.kind.name(),
            c.case.name,
            answers.join(" → "),
            sent,
            c.stored,
            c.series_stored,
            verdict(c)
        );
    }
    o
}
