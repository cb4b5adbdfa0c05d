//! `labctl chaos list` and `labctl chaos run SCENARIO`: faults under load, counted.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};

use super::control::ControlArgs;
use super::endpoints::EndpointArgs;
use super::{parse_duration, LabArgs, Outcome};
use crate::lab::chaos::{self, report::Verdict, scenarios};
use crate::lab::query::Client;

/// Break one part of a running lab under load, put it back, and count what survived.
///
/// Each scenario: baseline → inject the fault → hold it for --duration under the lab's normal
/// load → restore → wait (bounded) until the queues drain → count raw samples per region and
/// write path against a witness the fault does not touch (docs/reliability.md). The report gives
/// expected, stored, lost, duplicated, the largest delay, the queue peak and the time to drain,
/// the promise, and PASS/FAIL. Ctrl-C restores what was stopped or paused before exiting.
///
/// A scenario also names the alerts its fault must raise and clear (`labctl chaos list`); the
/// report says when each fired after the fault, for which components, and when it resolved
/// after the restore, or that it did not within the run. These are observations, not part of
/// the verdict: a short --duration can end before a rule's `for:` or window.
///
/// Exit code 0 when the promise held (or the scenario only reports, or does not apply), 1 when
/// it failed, 2 on bad input or when no lab is running.
///
///   $ labctl chaos list
///   $ labctl chaos run vminsert-down --duration 30s
///   $ labctl chaos run vmagent-kill --storage single --fast --json
///   $ labctl chaos run vminsert-down --control systemd   # in the NixOS VM test
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct ChaosArgs {
    #[command(subcommand)]
    command: ChaosCommand,
}

#[derive(Debug, Subcommand)]
enum ChaosCommand {
    /// List the scenarios, what each breaks and what it promises.
    List,
    Run(Box<RunArgs>),
}

/// Run one scenario against the running lab and report what survived.
///
///   $ labctl chaos run receiver-restart --duration 20s
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct RunArgs {
    /// The scenario (`labctl chaos list`).
    #[arg(value_name = "SCENARIO")]
    pub scenario: String,

    /// How long the fault lasts.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration, help_heading = "Scenario")]
    pub duration: Duration,

    /// How long to wait after the restore for every queue to drain.
    #[arg(long, value_name = "DURATION", default_value = "120s", value_parser = parse_duration, help_heading = "Scenario")]
    pub drain_timeout: Duration,

    /// How long to wait past the drain for the alerts the fault raised to resolve (0s: not at
    /// all; the report then says "not resolved within the run").
    #[arg(long, value_name = "DURATION", default_value = "3m", value_parser = parse_duration, help_heading = "Scenario")]
    pub alert_timeout: Duration,

    #[command(flatten)]
    pub lab: LabArgs,

    #[command(flatten)]
    pub endpoints: EndpointArgs,

    #[command(flatten)]
    pub control: ControlArgs,

    /// Print JSON instead of a table.
    #[arg(long, help_heading = "Output")]
    pub json: bool,
}

pub fn run(args: ChaosArgs) -> anyhow::Result<Outcome> {
    match args.command {
        ChaosCommand::List => {
            for s in &scenarios::SCENARIOS {
                println!("{:<18} {}", s.name, s.summary);
                let promise = if s.promise.is_empty() {
                    "none: measured and reported"
                } else {
                    s.promise
                };
                println!("{:<18} promise: {promise}", "");
                if !s.alerts.is_empty() {
                    println!("{:<18} alerts: {}", "", s.alerts.join(", "));
                }
            }
            Ok(Outcome::Ok)
        }
        ChaosCommand::Run(a) => run_one(*a),
    }
}

fn run_one(args: RunArgs) -> anyhow::Result<Outcome> {
    let scenario = scenarios::find(&args.scenario)?;
    let (topology, endpoints) = args.endpoints.resolve(&args.lab)?;
    let control = args.control.build(&args.lab)?;
    control.names().context("no lab to break")?;
    let interrupted = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, interrupted.clone())
            .context("installing signal handlers")?;
    }
    let client = Client::new();
    let log = |line: &str| eprintln!("chaos: {line}");
    let lab = chaos::Lab {
        topology: &topology,
        endpoints: &endpoints,
        client: &client,
        control: control.as_ref(),
        interrupted: &interrupted,
        log: &log,
    };
    let opts = chaos::Options {
        duration: args.duration,
        drain_timeout: args.drain_timeout,
        alert_timeout: args.alert_timeout,
    };
    let report = chaos::run(scenario, &lab, opts)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.table());
    }
    Ok(match report.verdict {
        Verdict::Fail => Outcome::Failed,
        _ => Outcome::Ok,
    })
}
