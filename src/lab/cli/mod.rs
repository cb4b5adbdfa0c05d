//! `labctl`: run the lab natively and prove it end to end.
//!
//! One file per subcommand; this module holds the argument groups they share and the exit-code
//! convention: 0 success, 1 a verification failed, 2 an error (bad input, missing binaries,
//! a component that would not start).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use crate::lab::supervise::Action;
use crate::lab::topology::Topology;
use crate::lab::victoria::Storage;

mod alerts;
mod backfill;
mod chaos;
mod compare;
mod control;
mod dashboards;
mod down;
mod endpoints;
mod explain;
mod load;
mod logs;
mod render;
mod status;
mod top;
mod up;
mod verify;

/// Run the remote-write lab natively and prove it end to end.
///
/// The lab: a mock exporter scraped by four vmagents (one per region) and a Prometheus writer,
/// writing through remote write into a VictoriaMetrics cluster (2× vminsert, vmstorage, vmselect,
/// vmauth in front) and into a Prometheus receiver. Every process runs from binaries on PATH, no
/// VMs or containers. The topology comes from lab.toml.
///
///   $ labctl up                        # the whole lab, in the foreground, until Ctrl-C
///   $ labctl up --storage single       # one victoria-metrics node instead of the cluster
///   $ labctl up --detach && labctl verify --wait 60s
///   $ labctl status
///   $ labctl stop vminsert-1 && labctl start vminsert-1
///   $ labctl explain 'http_requests_total{region="eu-west-1"}'   # where is my series lost?
///   $ labctl dashboards check          # every Grafana panel query returns data
///   $ labctl compare                   # receiver vs VictoriaMetrics on the same queries
///   $ labctl top                       # the lab live in the terminal (--once: one frame as text)
///   $ labctl chaos run vminsert-down   # a fault under load, counted
///   $ labctl load                      # ramp remote write until the lab gives: its ceiling
///   $ labctl alerts                    # pending, firing, resolved: both evaluators, Alertmanager
///   $ labctl backfill --since 3d --step 1m   # the history the scrapers would have had: long windows full
///   $ labctl down
#[derive(Debug, Parser)]
#[command(
    name = "labctl",
    version,
    verbatim_doc_comment,
    propagate_version = true
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Up(up::UpArgs),
    Down(down::DownArgs),
    Status(status::StatusArgs),
    Logs(logs::LogsArgs),
    Verify(verify::VerifyArgs),
    Explain(explain::ExplainArgs),
    Dashboards(dashboards::DashboardsArgs),
    Compare(compare::CompareArgs),
    Top(top::TopArgs),
    Alerts(alerts::AlertsArgs),
    Render(render::RenderArgs),
    Chaos(chaos::ChaosArgs),
    Load(load::LoadArgs),
    Backfill(backfill::BackfillArgs),
    /// Stop one component of a running lab; the supervisor does not restart it.
    ///
    /// SIGTERM, then SIGKILL after the lab's stop timeout. `labctl status` shows it as stopped
    /// until `labctl start NAME`. Unknown names exit 2, listing the known ones.
    ///
    ///   $ labctl stop vminsert-1
    ///   $ labctl stop vminsert-1 --control systemd   # systemctl stop rwlab-vminsert-1
    #[command(verbatim_doc_comment)]
    Stop(control::ComponentArgs),
    /// Start a stopped component again; returns once it is ready.
    ///
    ///   $ labctl start vminsert-1
    #[command(verbatim_doc_comment)]
    Start(control::ComponentArgs),
    /// Stop a component, then start it; returns once it is ready.
    ///
    ///   $ labctl restart prometheus-receiver
    #[command(verbatim_doc_comment)]
    Restart(control::ComponentArgs),
    /// Hang a component (SIGSTOP): alive, holding its ports, answering nothing.
    ///
    /// The supervisor leaves it paused; `labctl status` shows it as paused until
    /// `labctl resume NAME` (SIGCONT).
    ///
    ///   $ labctl pause vmagent-eu-west-1 && sleep 20 && labctl resume vmagent-eu-west-1
    #[command(verbatim_doc_comment)]
    Pause(control::ComponentArgs),
    /// Resume a paused component (SIGCONT).
    ///
    ///   $ labctl resume vmagent-eu-west-1
    #[command(verbatim_doc_comment)]
    Resume(control::ComponentArgs),
    /// Kill a component at once (SIGKILL: no shutdown, nothing flushed); it stays stopped.
    ///
    ///   $ labctl kill vmagent-us-east-1 && labctl start vmagent-us-east-1
    #[command(verbatim_doc_comment)]
    Kill(control::ComponentArgs),
}

/// Where the lab is described and kept.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Lab")]
pub struct LabArgs {
    /// The topology file.
    #[arg(
        long,
        value_name = "FILE",
        default_value = "lab.toml",
        env = "LABCTL_LAB"
    )]
    pub lab: PathBuf,

    /// Shift every port by N, so that two labs (or a test) can run side by side.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub port_offset: u16,

    /// Folder for data, configs, logs and the state file of a running lab.
    #[arg(
        long,
        value_name = "DIR",
        default_value = ".lab",
        env = "LABCTL_STATE_DIR"
    )]
    pub state_dir: PathBuf,
}

impl LabArgs {
    /// The topology with the port offset applied.
    pub fn topology(&self) -> anyhow::Result<Topology> {
        let t = Topology::load(&self.lab)?;
        Ok(t.with_port_offset(self.port_offset)?)
    }

    /// `rel` in the folder of lab.toml: where the dashboards and example queries are.
    pub fn beside(&self, rel: &str) -> PathBuf {
        self.lab.parent().unwrap_or(Path::new(".")).join(rel)
    }

    pub fn state_dir(&self) -> anyhow::Result<PathBuf> {
        std::fs::create_dir_all(&self.state_dir)
            .with_context(|| format!("creating {}", self.state_dir.display()))?;
        Ok(std::fs::canonicalize(&self.state_dir)?)
    }
}

/// What the lab runs with: its storage and scrape interval.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Storage: `cluster` needs vminsert, vmselect and vmstorage on PATH; `single` runs one
    /// victoria-metrics node (the package most distributions ship).
    #[arg(long, value_enum, default_value_t = Storage::Cluster, help_heading = "Lab")]
    pub storage: Storage,

    /// Scrape at lab.toml's fast_scrape_interval (2 s) instead of scrape_interval (15 s).
    #[arg(long, help_heading = "Lab")]
    pub fast: bool,
}

/// Parses `NAME=VALUE`.
pub fn parse_pair(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() && !v.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("expected NAME=VALUE, got {s:?}")),
    }
}

/// Parses a duration such as `30s`, `2m` or `500ms`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("{e} (try 30s, 2m or 500ms)"))
}

pub fn pairs_to_map(pairs: &[(String, String)]) -> BTreeMap<String, String> {
    pairs.iter().cloned().collect()
}

/// The outcome of a subcommand, mapped onto the exit code.
pub enum Outcome {
    Ok,
    /// A verification ran and failed.
    Failed,
}

/// Lets SIGPIPE end the process quietly, as it does other command-line tools: `labctl … | head`
/// stops at the reader's end instead of panicking on the next write. (Rust ignores SIGPIPE by
/// default; its sockets write with MSG_NOSIGNAL, so only a closed stdout or pipe raises it.)
fn default_sigpipe() {
    use nix::sys::signal::{signal, SigHandler, Signal};
    // SAFETY: installs the default disposition before any thread is started; no handler runs.
    let _ = unsafe { signal(Signal::SIGPIPE, SigHandler::SigDfl) };
}

/// Runs labctl with the process arguments.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // `up` keeps Rust's default: a closed stdout must unwind through the supervisor, which
    // stops the lab, not end the process with its components left running.
    if !matches!(cli.command, Command::Up(_)) {
        default_sigpipe();
    }
    let result = match cli.command {
        Command::Up(a) => up::run(a),
        Command::Down(a) => down::run(a),
        Command::Status(a) => status::run(a),
        Command::Logs(a) => logs::run(a),
        Command::Verify(a) => verify::run(a),
        Command::Explain(a) => explain::run(a),
        Command::Dashboards(a) => dashboards::run(a),
        Command::Compare(a) => compare::run(a),
        Command::Top(a) => top::run(a),
        Command::Alerts(a) => alerts::run(a),
        Command::Render(a) => render::run(a),
        Command::Chaos(a) => chaos::run(a),
        Command::Load(a) => load::run(a),
        Command::Backfill(a) => backfill::run(a),
        Command::Stop(a) => control::run(Action::Stop, a),
        Command::Start(a) => control::run(Action::Start, a),
        Command::Restart(a) => control::run(Action::Restart, a),
        Command::Pause(a) => control::run(Action::Pause, a),
        Command::Resume(a) => control::run(Action::Resume, a),
        Command::Kill(a) => control::run(Action::Kill, a),
    };
    match result {
        Ok(Outcome::Ok) => ExitCode::SUCCESS,
        Ok(Outcome::Failed) => ExitCode::from(1),
        Err(e) => {
            eprintln!("labctl: {e:#}");
            ExitCode::from(2)
        }
    }
}
