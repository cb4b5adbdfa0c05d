//! `labctl status`: what is running, where, and whether it is ready.

use clap::Args;
use serde::Serialize;

use super::{LabArgs, Outcome};
use crate::lab::supervise::{alive, LabState, Prober, Status};

/// Show each component of the running lab: pid, port, status, ready, restarts.
///
/// Readiness is probed now, not read from the last record. STATUS is `running`, or `stopped` /
/// `paused` on purpose (`labctl stop`, `labctl pause`): the supervisor leaves those alone. Exit
/// code 1 when a component is down, stopped, paused or not ready.
///
///   $ labctl status
///   $ labctl status --json | jq '.components[] | select(.ready | not)'
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct StatusArgs {
    #[command(flatten)]
    pub lab: LabArgs,

    /// Print JSON instead of a table.
    #[arg(long, help_heading = "Output")]
    pub json: bool,
}

#[derive(Serialize)]
struct Row {
    name: String,
    pid: Option<u32>,
    running: bool,
    status: Status,
    port: u16,
    ready: bool,
    restarts: u32,
    log: String,
}

pub fn run(args: StatusArgs) -> anyhow::Result<Outcome> {
    let state_dir = args.lab.state_dir()?;
    let state = LabState::load(&state_dir)?;
    let prober = Prober::new();
    let rows: Vec<Row> = state
        .components
        .iter()
        .map(|c| {
            let running = c.pid.is_some_and(alive);
            // A paused process answers nothing: probing it would only wait for the timeout.
            let probe = running && c.status == Status::Running;
            Row {
                name: c.name.clone(),
                pid: c.pid,
                running,
                status: c.status,
                port: c.port,
                ready: probe && prober.ready(&c.ready_url),
                restarts: c.restarts,
                log: c.log.display().to_string(),
            }
        })
        .collect();
    let supervisor = alive(state.supervisor_pid);
    let healthy = supervisor && rows.iter().all(|r| r.ready);
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "supervisor_pid": state.supervisor_pid,
                "supervisor_running": supervisor,
                "storage": state.storage,
                "notes": state.notes,
                "components": rows,
            }))?
        );
    } else {
        println!(
            "lab in {} ({} storage)",
            state_dir.display(),
            state.storage.as_str()
        );
        println!(
            "{:<24} {:>8} {:>6} {:<8} {:<6} {:>8}",
            "COMPONENT", "PID", "PORT", "STATUS", "READY", "RESTARTS"
        );
        for r in &rows {
            let pid = r.pid.map(|p| p.to_string()).unwrap_or_else(|| "-".into());
            let ready = if !r.running {
                "down"
            } else if r.ready {
                "yes"
            } else {
                "no"
            };
            println!(
                "{:<24} {:>8} {:>6} {:<8} {:<6} {:>8}",
                r.name,
                pid,
                r.port,
                r.status.as_str(),
                ready,
                r.restarts
            );
        }
        for n in &state.notes {
            println!("note: {n}");
        }
        if !supervisor {
            println!(
                "the labctl that ran this lab (pid {}) is gone: `labctl down` cleans up what is left",
                state.supervisor_pid
            );
        }
    }
    Ok(if healthy {
        Outcome::Ok
    } else {
        Outcome::Failed
    })
}
