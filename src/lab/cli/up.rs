//! `labctl up`: start the lab and keep it running.

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Args;

use super::{parse_duration, parse_pair, LabArgs, Outcome, RunArgs};
use crate::lab::render::{self, Component, Kind};
use crate::lab::supervise::{self, alive, Binaries, Event, LabState, Phase, Supervisor};
use crate::lab::topology::{Scale, Topology, MAX_SCALE};
use crate::lab::uis;
use crate::lab::victoria::Storage;

/// Start the whole lab and keep it running until Ctrl-C.
///
/// Starts, in order and each ready before the next: mock-exporter, the storage (vmstorage,
/// vminsert and vmselect ×2, or one victoria-metrics node with --storage single), vmauth,
/// Alertmanager (`alertmanager`, or Debian's `prometheus-alertmanager`), the Prometheus receiver
/// (which evaluates rules/*.yml), one vmagent per region, the Prometheus writer, vmalert (the
/// same rules against VictoriaMetrics), and Grafana when a `grafana` binary is on PATH. Each gets its own data folder and log under --state-dir; data
/// starts empty on every `up` unless --keep-data. A component that dies is reported at once with
/// the end of its log and restarted (up to 5 times).
///
///   $ labctl up
///   $ labctl up --storage single --fast --detach
///   $ labctl up --scale 112          # about 100,000 series per scraper
///   $ labctl up --bin vminsert=$HOME/vm/vminsert-prod --port-offset 1000
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct UpArgs {
    #[command(flatten)]
    pub lab: LabArgs,

    #[command(flatten)]
    pub run: RunArgs,

    /// Use this executable for a program, e.g. --bin vmstorage=/opt/vm/vmstorage-prod. Repeatable.
    #[arg(long = "bin", value_name = "NAME=PATH", value_parser = parse_pair, help_heading = "Lab")]
    pub bins: Vec<(String, String)>,

    /// Simulated exporter hosts for this run, overriding lab.toml's `[exporter] scale`: every
    /// scraper then reads about N × 930 series (112 give 104,256).
    #[arg(long, value_name = "N", help_heading = "Lab", value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_SCALE)))]
    pub scale: Option<u32>,

    /// Keep the data of the previous run instead of starting empty.
    #[arg(long, help_heading = "Lab")]
    pub keep_data: bool,

    /// Start in the background and return once every component is ready; stop with `labctl down`.
    #[arg(long, help_heading = "Process")]
    pub detach: bool,

    /// How long a component may take to become ready.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration, help_heading = "Process")]
    pub ready_timeout: Duration,

    /// How long stopping waits after SIGTERM before SIGKILL.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration, help_heading = "Process")]
    pub stop_timeout: Duration,
}

/// Set in the environment of the background `labctl up` that `--detach` starts.
const DETACHED_ENV: &str = "LABCTL_DETACHED";

/// The components to run with their executables, and notes for the user.
pub struct Prepared {
    pub topology: Topology,
    pub components: Vec<(Component, PathBuf)>,
    pub notes: Vec<String>,
}

/// Whether this vmauth accepts `unauthorized_user` (its -help mentions -dryRun from the same era).
fn vmauth_is_modern(path: &Path) -> bool {
    Command::new(path)
        .arg("-help")
        .output()
        .map(|o| {
            let text = String::from_utf8_lossy(&o.stdout).to_string()
                + &String::from_utf8_lossy(&o.stderr);
            text.contains("-dryRun")
        })
        .unwrap_or(false)
}

fn grafana_home(grafana: &Path) -> Option<PathBuf> {
    if let Some(h) = std::env::var_os("GRAFANA_HOME") {
        return Some(PathBuf::from(h));
    }
    let real = std::fs::canonicalize(grafana).ok()?;
    let candidates = [
        real.parent()?.parent()?.join("share/grafana"),
        PathBuf::from("/usr/share/grafana"),
    ];
    candidates
        .into_iter()
        .find(|p| p.join("public").is_dir() || p.join("conf").is_dir())
}

/// Resolves every program the lab needs, failing with one message that lists what is missing.
pub fn prepare(args: &UpArgs, state_dir: &Path) -> anyhow::Result<Prepared> {
    let mut topology = args.lab.topology()?;
    if let Some(n) = args.scale.and_then(Scale::new) {
        topology.exporter.scale = n;
    }
    let bins = binaries(&args.bins)?;
    let mut notes = Vec::new();
    let grafana_home = find_grafana(&bins, &mut notes);
    let modern_vmauth = bins
        .find("vmauth")
        .map(|p| vmauth_is_modern(&p))
        .unwrap_or(true);
    if !modern_vmauth {
        notes.push(format!(
            "vmauth: this version predates unauthorized_user; queries through vmauth need basic auth {}:{}",
            topology.vmauth.username, topology.vmauth.password
        ));
    }
    let dashboards_dir = std::fs::canonicalize(args.lab.beside("grafana/dashboards"))
        .unwrap_or_else(|_| PathBuf::from("grafana/dashboards"));
    // Both evaluators load rules/*.yml beside lab.toml; without them the lab would run with no
    // alerts and say nothing.
    let rules_dir = std::fs::canonicalize(args.lab.beside("rules")).map_err(|e| {
        anyhow::anyhow!(
            "no rules folder beside {} ({}: {e}): the lab's alerting rules (rules/*.yml) live next to lab.toml",
            args.lab.lab.display(),
            args.lab.beside("rules").display()
        )
    })?;
    let plan = render::plan(
        &topology,
        &render::Options {
            storage: args.run.storage,
            scrape_interval: topology.interval(args.run.fast),
            state_dir: state_dir.to_path_buf(),
            vmauth_unauthorized_user: modern_vmauth,
            grafana_home,
            dashboards_dir,
            rules_dir,
        },
    );
    Ok(Prepared {
        topology,
        components: locate(plan, &bins)?,
        notes,
    })
}

/// `--bin` overrides, each of which must exist.
fn binaries(pairs: &[(String, String)]) -> anyhow::Result<Binaries> {
    let overrides: BTreeMap<String, PathBuf> = pairs
        .iter()
        .map(|(k, v)| (k.clone(), PathBuf::from(v)))
        .collect();
    for (name, path) in &overrides {
        if !path.is_file() {
            bail!("--bin {name}={}: no such file", path.display());
        }
    }
    Ok(Binaries::from_env(overrides))
}

/// Grafana's home, or a note saying why Grafana is skipped.
fn find_grafana(bins: &Binaries, notes: &mut Vec<String>) -> Option<PathBuf> {
    let Some(g) = bins.find("grafana") else {
        notes.push("grafana: not on PATH, skipped (how to get it: under `what to open`)".into());
        return None;
    };
    let home = grafana_home(&g);
    if home.is_none() {
        notes.push(format!(
            "grafana: found {} but not its home (public/ assets); set GRAFANA_HOME; skipped",
            g.display()
        ));
    }
    home
}

/// Each component with its executable; one error listing every missing program and how to
/// get it.
fn locate(plan: Vec<Component>, bins: &Binaries) -> anyhow::Result<Vec<(Component, PathBuf)>> {
    let mut missing: Vec<&str> = Vec::new();
    let mut components = Vec::new();
    for c in plan {
        match bins.find(c.program()) {
            Some(p) => components.push((c, p)),
            None if !missing.contains(&c.program()) => missing.push(c.program()),
            None => {}
        }
    }
    if missing.is_empty() {
        return Ok(components);
    }
    let mut msg = format!(
        "cannot start the lab: not found on PATH: {}",
        missing.join(", ")
    );
    for m in &missing {
        msg += &format!("\n  {m}: {}", how_to_get(m));
    }
    bail!("{msg}")
}

fn how_to_get(program: &str) -> &'static str {
    match program {
        "vminsert" | "vmselect" | "vmstorage" => {
            "VictoriaMetrics cluster; no distribution packages it: `nix run` supplies it, \
             `--storage single` does without it, or pass upstream's -cluster binaries with --bin NAME=PATH"
        }
        "victoria-metrics" | "vmagent" | "vmauth" => {
            "VictoriaMetrics: `apt install victoria-metrics` (Debian, Ubuntu) or `nix run`"
        }
        "prometheus" => "`apt install prometheus` (Debian, Ubuntu) or `nix run`",
        "vmalert" => "`apt install victoria-metrics` (Debian, Ubuntu) or `nix run`",
        "alertmanager" => {
            "`apt install prometheus-alertmanager` (Debian, Ubuntu; found under that name too) or `nix run`"
        }
        "mock-exporter" => "build it: `cargo build --release` (labctl looks beside itself first)",
        _ => "install it, or pass --bin NAME=PATH",
    }
}

pub fn run(args: UpArgs) -> anyhow::Result<Outcome> {
    let state_dir = args.lab.state_dir()?;
    clean_stale_lab(&state_dir, args.stop_timeout)?;
    if args.detach {
        return detach(&args, &state_dir);
    }
    let prepared = prepare(&args, &state_dir)?;
    if !args.keep_data {
        for d in ["data", "config"] {
            let p = state_dir.join(d);
            if p.exists() {
                std::fs::remove_dir_all(&p).with_context(|| format!("clearing {}", p.display()))?;
            }
        }
    }
    let plan: Vec<Component> = prepared.components.iter().map(|(c, _)| c.clone()).collect();
    supervise::check_ports(&plan)?;
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, stop.clone()).context("installing signal handlers")?;
    }
    let hosts = prepared.topology.exporter.scale;
    println!(
        "starting the lab from {} ({} storage, scrape every {}, {hosts} exporter host{}, state in {})",
        args.lab.lab.display(),
        args.run.storage.as_str(),
        render::prom_duration(prepared.topology.interval(args.run.fast)),
        if hosts.get() == 1 { "" } else { "s" },
        state_dir.display()
    );
    for n in &prepared.notes {
        println!("  note: {n}");
    }
    let mut sup = Supervisor::new(
        &state_dir,
        prepared.components,
        args.run.storage,
        prepared.notes.clone(),
    )?;
    sup.ready_timeout = args.ready_timeout;
    sup.stop_timeout = args.stop_timeout;
    let t0 = Instant::now();
    sup.start_all(&mut print_event)?;
    println!("lab ready in {:.1}s", t0.elapsed().as_secs_f64());
    print!(
        "{}",
        summary(&prepared.topology, args.run.storage, &plan, &args)
    );
    let _ = std::io::stdout().flush();
    sup.mark_ready()?;
    while !stop.load(Ordering::Relaxed) {
        for reply in sup.serve_requests()? {
            let mark = if reply.ok { "" } else { "refused: " };
            println!("labctl: {mark}{}", reply.message);
        }
        sup.watch(&mut print_event)?;
        std::thread::sleep(Duration::from_millis(300));
    }
    println!("stopping the lab…");
    sup.stop_all();
    println!("stopped");
    Ok(Outcome::Ok)
}

/// Refuses to start over a running lab; stops what a killed one left behind.
fn clean_stale_lab(state_dir: &Path, stop_timeout: Duration) -> anyhow::Result<()> {
    let Ok(state) = LabState::load(state_dir) else {
        return Ok(());
    };
    if alive(state.supervisor_pid) && state.supervisor_pid != std::process::id() {
        bail!(
            "a lab is already running from {} (labctl pid {}): `labctl down` first, or use another --state-dir and --port-offset",
            state_dir.display(),
            state.supervisor_pid
        );
    }
    let pids: Vec<u32> = state.components.iter().filter_map(|c| c.pid).collect();
    supervise::stop_groups(&pids, stop_timeout);
    let _ = std::fs::remove_file(LabState::path(state_dir));
    Ok(())
}

fn print_event(e: Event) {
    match e {
        Event::Starting { name, port } => {
            print!("  {name:<24} :{port:<6} starting… ");
            let _ = std::io::stdout().flush();
        }
        Event::Ready { after, .. } => println!("ready in {:.1}s", after.as_secs_f64()),
        Event::Died {
            name,
            status,
            log,
            tail,
        } => {
            eprintln!(
                "labctl: {name} exited ({status}); the end of {}:",
                log.display()
            );
            for l in tail.lines() {
                eprintln!("    {l}");
            }
        }
        Event::Restarted { name, restarts } => {
            eprintln!("labctl: restarted {name} (restart {restarts})")
        }
        Event::GaveUp { name, restarts } => {
            eprintln!("labctl: {name} keeps dying; gave up after {restarts} restarts (see `labctl logs {name}`)")
        }
    }
    let _ = std::io::stdout().flush();
}

/// Where to find things once the lab is up: the UIs it has (asked, not assumed), the APIs, and
/// the commands that look at it.
pub fn summary(t: &Topology, storage: Storage, plan: &[Component], args: &UpArgs) -> String {
    let grafana = plan.iter().any(|c| c.kind == Kind::Grafana);
    let mut s = String::from("what to open:\n");
    s += &uis::lines(&uis::discover(t, storage, grafana));
    s += &format!(
        "  VictoriaMetrics API   {}  (Prometheus API through vmauth; user {} / {})\n",
        render::query_url(t, storage),
        t.vmauth.username,
        t.vmauth.password
    );
    s += &format!("  mock-exporter         {}\n", render::exporter_url(t));
    s += &format!(
        "watch it live:         {}\n",
        lab_command("labctl top", args)
    );
    s += &format!(
        "check it end to end:   {}\n",
        lab_command("labctl verify --wait 60s", args)
    );
    s
}

/// A labctl command line that reaches the lab this `labctl up` starts.
fn lab_command(command: &str, args: &UpArgs) -> String {
    let mut v = String::from(command);
    if args.lab.lab != Path::new("lab.toml") {
        v += &format!(" --lab {}", args.lab.lab.display());
    }
    if args.lab.port_offset != 0 {
        v += &format!(" --port-offset {}", args.lab.port_offset);
    }
    if args.run.fast {
        v += " --fast";
    }
    if args.run.storage == Storage::Single {
        v += " --storage single";
    }
    v
}

/// Starts `labctl up` again in the background and shows its log until the state file says
/// the lab is ready.
fn detach(args: &UpArgs, state_dir: &Path) -> anyhow::Result<Outcome> {
    // Fail fast in the foreground on what can be checked without starting anything.
    let prepared = prepare(args, state_dir)?;
    let plan: Vec<Component> = prepared.components.iter().map(|(c, _)| c.clone()).collect();
    supervise::check_ports(&plan)?;
    let log_path = state_dir.join("labctl.log");
    let log = std::fs::File::create(&log_path)
        .with_context(|| format!("creating {}", log_path.display()))?;
    let argv: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--detach")
        .collect();
    let mut child = Command::new(std::env::current_exe()?)
        .args(&argv)
        .env(DETACHED_ENV, "1")
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .process_group(0)
        .spawn()
        .context("starting labctl in the background")?;
    let mut follower = LogFollower::open(&log_path)?;
    let deadline = Instant::now() + args.ready_timeout * (plan.len() as u32).max(1);
    loop {
        // Read the state before the log: all the log holds once the state says ready is shown.
        let ready = LabState::load(state_dir).is_ok_and(|s| s.phase == Phase::Ready);
        follower.show_new();
        if ready {
            println!(
                "running in the background (labctl pid {}); stop it with `labctl down`",
                child.id()
            );
            return Ok(Outcome::Ok);
        }
        if let Some(status) = child.try_wait()? {
            follower.show_new();
            bail!(
                "the background labctl exited ({status}) before the lab was ready (log: {})",
                log_path.display()
            );
        }
        if Instant::now() > deadline {
            bail!(
                "the lab was not ready in time (log: {})",
                log_path.display()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Copies what a growing log file gained to stdout.
struct LogFollower {
    file: std::fs::File,
    shown: u64,
}

impl LogFollower {
    fn open(path: &Path) -> anyhow::Result<LogFollower> {
        let file =
            std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
        Ok(LogFollower { file, shown: 0 })
    }

    fn show_new(&mut self) {
        let _ = self.file.seek(SeekFrom::Start(self.shown));
        let mut buf = Vec::new();
        let _ = self.file.read_to_end(&mut buf);
        self.shown += buf.len() as u64;
        let _ = std::io::stdout().write_all(&buf);
        let _ = std::io::stdout().flush();
    }
}
