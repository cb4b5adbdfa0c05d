//! `labctl down`: stop a detached lab.

use std::time::{Duration, Instant};

use clap::Args;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::{parse_duration, LabArgs, Outcome};
use crate::lab::supervise::{self, alive, LabState};

/// Stop a lab started with `labctl up --detach`.
///
/// Asks the background labctl to stop (SIGTERM); it stops every component, last started first:
/// SIGTERM, then SIGKILL after --stop-timeout. Whatever is still running after that is killed
/// here, so no process is left behind. Does nothing, successfully, when no lab is running.
///
///   $ labctl down
///   $ labctl down --state-dir /tmp/lab2
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct DownArgs {
    #[command(flatten)]
    pub lab: LabArgs,

    /// How long to wait after SIGTERM before SIGKILL.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub stop_timeout: Duration,
}

pub fn run(args: DownArgs) -> anyhow::Result<Outcome> {
    let state_dir = args.lab.state_dir()?;
    let Ok(state) = LabState::load(&state_dir) else {
        println!("no lab is running from {}", state_dir.display());
        return Ok(Outcome::Ok);
    };
    let sup = state.supervisor_pid;
    if alive(sup) {
        let _ = kill(Pid::from_raw(sup as i32), Signal::SIGTERM);
        let deadline = Instant::now() + args.stop_timeout + Duration::from_secs(5);
        while alive(sup) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    // Whatever the supervisor did not stop: last started first.
    let pids: Vec<u32> = state
        .components
        .iter()
        .rev()
        .filter_map(|c| c.pid)
        .collect();
    let left = pids.iter().filter(|p| supervise::group_alive(**p)).count();
    supervise::stop_in_order(&pids, args.stop_timeout);
    if alive(sup) {
        let _ = kill(Pid::from_raw(sup as i32), Signal::SIGKILL);
    }
    let _ = std::fs::remove_file(LabState::path(&state_dir));
    if left > 0 {
        println!(
            "stopped {} components ({left} had to be stopped directly)",
            state.components.len()
        );
    } else {
        println!("stopped {} components", state.components.len());
    }
    Ok(Outcome::Ok)
}
