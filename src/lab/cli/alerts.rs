//! `labctl alerts`: the lab's alerts from both evaluators and Alertmanager; `wait` for one.

use std::time::{Duration, Instant};

use clap::{Args, Subcommand};

use super::endpoints::EndpointArgs;
use super::{parse_duration, LabArgs, Outcome};
use crate::lab::alerts::{self, AlertRow, Wanted, RECEIVER_EVALUATOR, VMALERT_EVALUATOR};
use crate::lab::endpoints::Endpoints;
use crate::lab::query::Client;

/// Show pending, firing and resolved alerts from vmalert, the Prometheus receiver and
/// Alertmanager.
///
/// Evaluators report `pending` (the rule's `for` has not passed) and `firing`; Alertmanager
/// reports `active`, or `resolved` once an alert's end has passed. Works against any lab over
/// HTTP; endpoints default to lab.toml.
///
///   $ labctl alerts
///   $ labctl alerts --json | jq '.[] | select(.state == "firing")'
///   $ labctl alerts wait RemoteWriteFailingVmagent --state firing --timeout 2m
///   $ labctl alerts wait StaleRegion --state resolved --evaluator vmalert --timeout 5m
///   $ labctl alerts --port-offset 1000 --storage single wait Watchdog   # lab flags before `wait`
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct AlertsArgs {
    #[command(subcommand)]
    pub action: Option<Action>,

    #[command(flatten)]
    pub lab: LabArgs,

    #[command(flatten)]
    pub endpoints: EndpointArgs,

    /// Print JSON instead of a table.
    #[arg(long, global = true, help_heading = "Output")]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum Action {
    /// Wait until an alert is firing (or resolved); exit 0 when it is, 1 at the timeout.
    ///
    /// `firing`: firing at an evaluator or active at Alertmanager. `resolved`: neither pending,
    /// firing nor active anywhere. Prints how long it took, for scripts and chaos scenarios.
    ///
    ///   $ labctl alerts wait Watchdog --state firing --timeout 30s
    #[command(verbatim_doc_comment)]
    Wait(WaitArgs),
}

#[derive(Debug, Args)]
pub struct WaitArgs {
    /// The alert name (its `alertname`).
    #[arg(value_name = "NAME")]
    pub name: String,

    /// The state to wait for.
    #[arg(long, value_enum, default_value_t = Wanted::Firing)]
    pub state: Wanted,

    /// Only alerts from this evaluator: `vmalert` or `prometheus-receiver`.
    #[arg(long, value_name = "EVALUATOR")]
    pub evaluator: Option<String>,

    /// How long to wait.
    #[arg(long, value_name = "DURATION", default_value = "2m", value_parser = parse_duration)]
    pub timeout: Duration,
}

fn now_rfc3339() -> String {
    humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string()
}

pub(super) fn read(client: &Client, e: &Endpoints) -> anyhow::Result<Vec<AlertRow>> {
    let evaluators = [
        (VMALERT_EVALUATOR, &e.vmalert),
        (RECEIVER_EVALUATOR, &e.receiver),
    ];
    alerts::snapshot(client, &evaluators, &e.alertmanager, &now_rfc3339())
}

fn table(rows: &[AlertRow]) -> String {
    let mut out = format!(
        "{:<20} {:<10} {:<34} {:<26} LABELS\n",
        "SOURCE", "STATE", "ALERT", "SINCE"
    );
    for r in rows {
        let labels: Vec<String> = r.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        out += &format!(
            "{:<20} {:<10} {:<34} {:<26} {}\n",
            r.source,
            r.state,
            r.name,
            r.since,
            labels.join(",")
        );
    }
    out
}

pub fn run(args: AlertsArgs) -> anyhow::Result<Outcome> {
    let (_, e) = args.endpoints.resolve(&args.lab)?;
    let client = Client::new();
    let Some(Action::Wait(w)) = args.action else {
        let rows = read(&client, &e)?;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&rows)?);
        } else {
            print!("{}", table(&rows));
        }
        return Ok(Outcome::Ok);
    };
    let t0 = Instant::now();
    loop {
        // A source that does not answer (restarting) is not a verdict: keep waiting.
        let rows = read(&client, &e);
        if let Ok(rows) = &rows {
            if alerts::reached(rows, &w.name, w.state, w.evaluator.as_deref()) {
                let after = t0.elapsed().as_secs_f64();
                if args.json {
                    let v = serde_json::json!({"alert": w.name, "state": w.state, "after_seconds": after});
                    println!("{v}");
                } else {
                    println!("{} {} after {after:.1}s", w.name, w.state.as_str());
                }
                return Ok(Outcome::Ok);
            }
        }
        if t0.elapsed() >= w.timeout {
            let why = rows
                .err()
                .map(|e| format!(" (last error: {e:#})"))
                .unwrap_or_default();
            eprintln!(
                "labctl: {} not {} within {}{why}",
                w.name,
                w.state.as_str(),
                humantime::format_duration(w.timeout)
            );
            return Ok(Outcome::Failed);
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}
