//! Running the lab's processes: spawn, wait until ready, watch, restart, stop.
//!
//! Each component runs in its own process group with its log in `STATE/logs/NAME.log`. A
//! component is ready when its HTTP readiness path answers 200, asked at the address it listens
//! on, by one HTTP agent for the whole lab. A component that dies is restarted after a back-off
//! that is scheduled, not slept: the others stay watched and Ctrl-C is heard meanwhile. Stopping sends SIGTERM to every
//! group (last started first), waits up to a timeout, then SIGKILLs what is left; dropping a
//! [`Supervisor`] does the same, so no process outlives it. The state file `STATE/state.json`
//! lets `labctl status` and `labctl down` find a detached lab, and `labctl up --detach` learn
//! when it is ready ([`Phase`]).
//!
//! The supervisor is the only owner of the processes. Other labctl calls (`labctl stop NAME`,
//! `pause`, …, and `labctl chaos`) put a [`Request`] in its inbox, `STATE/requests/ID.json`; its
//! loop does it ([`Supervisor::serve_requests`]), records the component's [`Status`] (running,
//! stopped, paused) in the state file and answers in `ID.reply`. A component stopped or paused
//! on purpose is not restarted.
//!
//! This module knows how to run processes, not what the lab is: the [`crate::lab::render::Component`]
//! list says what to run.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom};
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

use crate::lab::render::{Component, Kind};
use crate::lab::victoria::Storage;

/// Where each program comes from: `--bin NAME=PATH` overrides, then the folder of the running
/// executable (so `labctl` finds the `mock-exporter` built beside it), then PATH.
#[derive(Debug, Clone, Default)]
pub struct Binaries {
    pub overrides: BTreeMap<String, PathBuf>,
    pub beside: Option<PathBuf>,
}

impl Binaries {
    pub fn from_env(overrides: BTreeMap<String, PathBuf>) -> Binaries {
        let beside = std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf));
        Binaries { overrides, beside }
    }

    /// The path of `program` (or of a name distributions give it, [`other_names`]), if it can
    /// be found.
    pub fn find(&self, program: &str) -> Option<PathBuf> {
        if let Some(p) = self.overrides.get(program) {
            return Some(p.clone());
        }
        std::iter::once(program)
            .chain(other_names(program).iter().copied())
            .find_map(|name| {
                self.beside
                    .as_ref()
                    .and_then(|dir| which::which_in(name, Some(dir), dir).ok())
                    .or_else(|| find_on_path(name))
            })
    }
}

/// Names distributions install a program under besides upstream's: Debian ships Alertmanager
/// as `prometheus-alertmanager` (upstream and nixpkgs: `alertmanager`).
pub fn other_names(program: &str) -> &'static [&'static str] {
    match program {
        "alertmanager" => &["prometheus-alertmanager"],
        _ => &[],
    }
}

/// `program` on PATH.
pub fn find_on_path(program: &str) -> Option<PathBuf> {
    which::which(program).ok()
}

/// One component as recorded in the state file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ComponentState {
    pub name: String,
    pub kind: Kind,
    pub pid: Option<u32>,
    pub port: u16,
    pub ready_url: String,
    pub ready: bool,
    pub restarts: u32,
    pub log: PathBuf,
    pub command: Vec<String>,
    /// Running, or stopped or paused on purpose (`labctl stop`, `labctl pause`).
    #[serde(default)]
    pub status: Status,
}

/// Whether a component runs, or was stopped or paused on purpose; the supervisor restarts only
/// a running component that died.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    #[default]
    Running,
    /// Stopped (or killed) on request: not restarted until started again.
    Stopped,
    /// Sent SIGSTOP on request: alive but hung until resumed.
    Paused,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Running => "running",
            Status::Stopped => "stopped",
            Status::Paused => "paused",
        }
    }
}

/// What a request asks the supervisor to do to one component.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// SIGTERM, then SIGKILL after the stop timeout; not restarted.
    Stop,
    /// Start a stopped component (it is ready once the state says so).
    Start,
    /// Stop, then start.
    Restart,
    /// SIGSTOP: alive but hung.
    Pause,
    /// SIGCONT after a pause.
    Resume,
    /// SIGKILL at once (no shutdown, no flush); not restarted.
    Kill,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Stop => "stop",
            Action::Start => "start",
            Action::Restart => "restart",
            Action::Pause => "pause",
            Action::Resume => "resume",
            Action::Kill => "kill",
        }
    }

    /// The status a component has once the action is done.
    pub fn outcome(self) -> Status {
        match self {
            Action::Stop | Action::Kill => Status::Stopped,
            Action::Pause => Status::Paused,
            Action::Start | Action::Restart | Action::Resume => Status::Running,
        }
    }
}

/// A request in the supervisor's inbox, `STATE/requests/ID.json`: the background (or
/// foreground) `labctl up` is the only owner of the lab's processes, so other labctl calls ask
/// it instead of signalling processes themselves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    pub component: String,
    pub action: Action,
}

/// The supervisor's answer to a request, `STATE/requests/ID.reply`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reply {
    pub ok: bool,
    pub message: String,
}

/// The supervisor's inbox folder.
pub fn inbox(state_dir: &Path) -> PathBuf {
    state_dir.join("requests")
}

/// Writes `value` as JSON to `path` through a temporary file, so readers never see half of it.
fn write_atomic(path: &Path, value: &impl Serialize) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp");
    fs::write(&tmp, serde_json::to_vec_pretty(value)?)
        .with_context(|| format!("writing {}", tmp.display()))?;
    fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
}

/// Puts a request in the inbox and returns the path its reply will have.
pub fn send_request(state_dir: &Path, request: &Request) -> anyhow::Result<PathBuf> {
    let dir = inbox(state_dir);
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let id = format!("{nanos:024}-{}", std::process::id());
    write_atomic(&dir.join(format!("{id}.json")), request)?;
    Ok(dir.join(format!("{id}.reply")))
}

/// Where a lab is in its life, as the state file says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// Components are being started, each ready before the next.
    Starting,
    /// Every component was ready and the supervisor has said where things are.
    Ready,
}

/// The state file of a running lab.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LabState {
    /// The `labctl up` process that supervises the lab.
    pub supervisor_pid: u32,
    pub storage: Storage,
    pub started_at: u64,
    pub phase: Phase,
    pub components: Vec<ComponentState>,
    /// Lines for the user: skipped components and why.
    pub notes: Vec<String>,
}

impl LabState {
    pub fn path(state_dir: &Path) -> PathBuf {
        state_dir.join("state.json")
    }

    pub fn load(state_dir: &Path) -> anyhow::Result<LabState> {
        let p = LabState::path(state_dir);
        let text = fs::read_to_string(&p).with_context(|| {
            format!(
                "no lab state at {} (is a lab running from this folder?)",
                p.display()
            )
        })?;
        serde_json::from_str(&text).with_context(|| format!("reading {}", p.display()))
    }

    fn save(&self, state_dir: &Path) -> anyhow::Result<()> {
        write_atomic(&LabState::path(state_dir), self)
    }

    /// The component called `name`; an error lists the known names.
    pub fn component(&self, name: &str) -> anyhow::Result<&ComponentState> {
        self.components
            .iter()
            .find(|c| c.name == name)
            .ok_or_else(|| unknown_component(name, self.components.iter().map(|c| &c.name)))
    }
}

/// The error for a component name nobody knows, listing the known ones.
pub fn unknown_component<S: AsRef<str>>(
    name: &str,
    known: impl IntoIterator<Item = S>,
) -> anyhow::Error {
    let known: Vec<String> = known.into_iter().map(|s| s.as_ref().to_string()).collect();
    anyhow::anyhow!(
        "no component named {name:?} in this lab (known: {})",
        known.join(", ")
    )
}

/// Whether a process is alive (and not a zombie).
pub fn alive(pid: u32) -> bool {
    if nix::sys::signal::kill(Pid::from_raw(pid as i32), None).is_err() {
        return false;
    }
    // Without /proc (not Linux), the signal check above is all there is.
    proc_stat(pid).is_none_or(|(state, _)| running(&state))
}

/// A process's state letter and process group, from `/proc/PID/stat`.
fn proc_stat(pid: u32) -> Option<(String, u32)> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces and parentheses: fields start after the last ')'.
    let (_, rest) = stat.rsplit_once(')')?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // state ppid pgrp …
    Some((f.first()?.to_string(), f.get(2)?.parse().ok()?))
}

/// Whether a state letter is a live process (not a zombie, not dead).
fn running(state: &str) -> bool {
    state != "Z" && state != "X"
}

/// The last `lines` lines of a log file.
pub fn tail(path: &Path, lines: usize) -> String {
    let Ok(mut f) = File::open(path) else {
        return String::new();
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let start = len.saturating_sub(16 * 1024);
    let _ = f.seek(SeekFrom::Start(start));
    let mut buf = String::new();
    let _ = f.read_to_string(&mut buf);
    let all: Vec<&str> = buf.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Something the user should hear about while the lab starts or runs.
#[derive(Debug)]
pub enum Event<'a> {
    Starting {
        name: &'a str,
        port: u16,
    },
    Ready {
        name: &'a str,
        after: Duration,
    },
    Died {
        name: &'a str,
        status: ExitStatus,
        log: &'a Path,
        tail: String,
    },
    Restarted {
        name: &'a str,
        restarts: u32,
    },
    GaveUp {
        name: &'a str,
        restarts: u32,
    },
}

/// Asks readiness URLs, with one HTTP agent for every probe (2 s timeout).
pub struct Prober {
    agent: ureq::Agent,
}

impl Default for Prober {
    fn default() -> Self {
        Prober::new()
    }
}

impl Prober {
    pub fn new() -> Prober {
        Prober {
            agent: ureq::Agent::config_builder()
                .timeout_global(Some(Duration::from_secs(2)))
                .build()
                .new_agent(),
        }
    }

    /// Whether `url` answers 200.
    pub fn ready(&self, url: &str) -> bool {
        matches!(self.agent.get(url).call(), Ok(r) if r.status() == 200)
    }
}

struct Running {
    component: Component,
    program: PathBuf,
    child: Option<Child>,
    log: PathBuf,
    ready: bool,
    restarts: u32,
    last_start: Instant,
    /// When a component that died is due to start again.
    restart_at: Option<Instant>,
    status: Status,
}

impl Running {
    fn spawn(&mut self) -> anyhow::Result<()> {
        for (path, content) in &self.component.files {
            if let Some(dir) = path.parent() {
                fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            }
            fs::write(path, content).with_context(|| format!("writing {}", path.display()))?;
        }
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .with_context(|| format!("opening {}", self.log.display()))?;
        let child = Command::new(&self.program)
            .args(&self.component.args)
            .envs(self.component.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .process_group(0)
            .spawn()
            .with_context(|| {
                format!(
                    "starting {} ({})",
                    self.component.name,
                    self.program.display()
                )
            })?;
        self.child = Some(child);
        self.ready = false;
        self.last_start = Instant::now();
        Ok(())
    }

    /// Waits until the readiness URL answers, failing if the process exits or `timeout` passes.
    fn wait_ready(&mut self, prober: &Prober, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        let url = self.component.ready_url();
        loop {
            if prober.ready(&url) {
                return Ok(());
            }
            let name = &self.component.name;
            let log = self.log.display();
            if let Some(status) = self
                .child
                .as_mut()
                .map(Child::try_wait)
                .transpose()?
                .flatten()
            {
                self.child = None;
                bail!(
                    "{name} exited ({status}) before it was ready; the end of {log}:\n{}",
                    tail(&self.log, 20)
                );
            }
            if Instant::now() > deadline {
                bail!(
                    "{name} was not ready at {url} after {}s; the end of {log}:\n{}",
                    timeout.as_secs(),
                    tail(&self.log, 20)
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// One look: start it if its restart is due, note readiness, or report its death and
    /// schedule the restart. Returns whether anything changed.
    fn watch(
        &mut self,
        prober: &Prober,
        max_restarts: u32,
        progress: &mut dyn FnMut(Event),
    ) -> anyhow::Result<bool> {
        let name = &self.component.name;
        if self.status == Status::Stopped {
            return Ok(false);
        }
        if let Some(at) = self.restart_at {
            if Instant::now() < at {
                return Ok(false);
            }
            self.restart_at = None;
            self.restarts += 1;
            self.spawn()?;
            progress(Event::Restarted {
                name: &self.component.name,
                restarts: self.restarts,
            });
            return Ok(true);
        }
        let Some(child) = self.child.as_mut() else {
            return Ok(false);
        };
        let Some(status) = child.try_wait()? else {
            // A paused process cannot answer: asking would only wait for the probe's timeout.
            let probe = !self.ready && self.status == Status::Running;
            let became_ready = probe && prober.ready(&self.component.ready_url());
            self.ready |= became_ready;
            return Ok(became_ready);
        };
        self.child = None;
        self.ready = false;
        // Killed while paused by someone else: it died, and is restarted like any other.
        self.status = Status::Running;
        let tail = tail(&self.log, 15);
        progress(Event::Died {
            name,
            status,
            log: &self.log,
            tail,
        });
        if self.restarts >= max_restarts {
            progress(Event::GaveUp {
                name,
                restarts: self.restarts,
            });
        } else {
            // Back off: a component that died within seconds of starting waits longer.
            let backoff = Duration::from_millis(500 * 2u64.pow(self.restarts.min(4)));
            let wait = backoff
                .saturating_sub(self.last_start.elapsed())
                .min(Duration::from_secs(8));
            self.restart_at = Some(Instant::now() + wait);
        }
        Ok(true)
    }

    fn state(&self) -> ComponentState {
        ComponentState {
            name: self.component.name.clone(),
            kind: self.component.kind,
            pid: self.child.as_ref().map(Child::id),
            port: self.component.port(),
            ready_url: self.component.ready_url(),
            ready: self.ready,
            restarts: self.restarts,
            log: self.log.clone(),
            command: std::iter::once(self.program.display().to_string())
                .chain(self.component.args.iter().cloned())
                .collect(),
            status: self.status,
        }
    }

    /// Does `action` now; returns what was done, for the reply.
    fn act(&mut self, action: Action, stop_timeout: Duration) -> anyhow::Result<String> {
        let name = self.component.name.clone();
        let pid = self.child.as_ref().map(Child::id);
        match (action, pid, self.status) {
            (Action::Stop | Action::Kill, None, _) => {
                self.restart_at = None;
                self.status = Status::Stopped;
                Ok(format!("{name} was not running; it stays stopped"))
            }
            (Action::Stop, Some(pid), _) => {
                stop_groups(&[pid], stop_timeout);
                self.reap(Status::Stopped);
                Ok(format!("stopped {name} (pid {pid})"))
            }
            (Action::Kill, Some(pid), _) => {
                let _ = killpg(Pid::from_raw(pid as i32), Signal::SIGKILL);
                self.reap(Status::Stopped);
                Ok(format!("killed {name} (pid {pid}) with SIGKILL"))
            }
            (Action::Start, Some(pid), status) => bail!(
                "{name} is already {} (pid {pid}){}",
                status.as_str(),
                if status == Status::Paused {
                    ": `labctl resume` it"
                } else {
                    ""
                }
            ),
            (Action::Start, None, _) => {
                self.restart_at = None;
                self.spawn()?;
                self.status = Status::Running;
                Ok(format!("started {name}"))
            }
            (Action::Restart, _, _) => {
                let stopped = self.act(Action::Stop, stop_timeout)?;
                let started = self.act(Action::Start, stop_timeout)?;
                Ok(format!("{stopped}; {started}"))
            }
            (Action::Pause | Action::Resume, None, _) => bail!("{name} is not running"),
            (Action::Pause, Some(pid), _) => {
                killpg(Pid::from_raw(pid as i32), Signal::SIGSTOP)
                    .with_context(|| format!("pausing {name} (pid {pid})"))?;
                self.status = Status::Paused;
                Ok(format!("paused {name} (pid {pid}, SIGSTOP)"))
            }
            (Action::Resume, Some(pid), _) => {
                killpg(Pid::from_raw(pid as i32), Signal::SIGCONT)
                    .with_context(|| format!("resuming {name} (pid {pid})"))?;
                self.status = Status::Running;
                Ok(format!("resumed {name} (pid {pid}, SIGCONT)"))
            }
        }
    }

    /// Waits for the stopped child and records `status`; no restart is scheduled.
    fn reap(&mut self, status: Status) {
        if let Some(mut c) = self.child.take() {
            let _ = c.wait();
        }
        self.ready = false;
        self.restart_at = None;
        self.status = status;
    }
}

/// Supervises a set of components; stops them all when dropped.
pub struct Supervisor {
    state_dir: PathBuf,
    running: Vec<Running>,
    prober: Prober,
    pub stop_timeout: Duration,
    pub ready_timeout: Duration,
    pub max_restarts: u32,
    storage: Storage,
    notes: Vec<String>,
    started_at: u64,
    phase: Phase,
}

/// Fails unless every address the components will listen on is free, naming the first taken one.
pub fn check_ports(components: &[Component]) -> anyhow::Result<()> {
    for c in components {
        for addr in &c.listens {
            let port = addr.port();
            if let Err(e) = TcpListener::bind(addr) {
                bail!(
                    "port {port} for {} is already in use ({e}): stop what holds it (another lab? `labctl down`), \
                     or shift every port with --port-offset N",
                    c.name
                );
            }
        }
    }
    Ok(())
}

impl Supervisor {
    /// Prepares to run `components`, each with its executable.
    pub fn new(
        state_dir: &Path,
        components: Vec<(Component, PathBuf)>,
        storage: Storage,
        notes: Vec<String>,
    ) -> anyhow::Result<Supervisor> {
        fs::create_dir_all(state_dir.join("logs"))
            .with_context(|| format!("creating {}", state_dir.join("logs").display()))?;
        // Requests left by an earlier lab are not for this one.
        let _ = fs::remove_dir_all(inbox(state_dir));
        let running = components
            .into_iter()
            .map(|(component, program)| Running {
                log: state_dir
                    .join("logs")
                    .join(format!("{}.log", component.name)),
                component,
                program,
                child: None,
                ready: false,
                restarts: 0,
                last_start: Instant::now(),
                restart_at: None,
                status: Status::Running,
            })
            .collect();
        Ok(Supervisor {
            state_dir: state_dir.to_path_buf(),
            running,
            prober: Prober::new(),
            stop_timeout: Duration::from_secs(10),
            ready_timeout: Duration::from_secs(60),
            max_restarts: 5,
            storage,
            notes,
            started_at: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            phase: Phase::Starting,
        })
    }

    /// Starts every component in order, each ready before the next starts.
    pub fn start_all(&mut self, progress: &mut dyn FnMut(Event)) -> anyhow::Result<()> {
        for i in 0..self.running.len() {
            let r = &mut self.running[i];
            progress(Event::Starting {
                name: &r.component.name,
                port: r.component.port(),
            });
            let t0 = Instant::now();
            r.spawn()?;
            self.save()?;
            let r = &mut self.running[i];
            r.wait_ready(&self.prober, self.ready_timeout)?;
            r.ready = true;
            progress(Event::Ready {
                name: &r.component.name,
                after: t0.elapsed(),
            });
            self.save()?;
        }
        Ok(())
    }

    /// Records in the state file that the lab is ready (after [`Supervisor::start_all`] and
    /// whatever the caller tells the user then): `labctl up --detach` waits for this.
    pub fn mark_ready(&mut self) -> anyhow::Result<()> {
        self.phase = Phase::Ready;
        self.save()
    }

    /// Checks every component once without waiting: reports deaths, starts restarts that are
    /// due, gives up after `max_restarts`. Returns whether anything changed.
    pub fn watch(&mut self, progress: &mut dyn FnMut(Event)) -> anyhow::Result<bool> {
        let mut changed = false;
        for r in &mut self.running {
            changed |= r.watch(&self.prober, self.max_restarts, progress)?;
        }
        if changed {
            self.save()?;
        }
        Ok(changed)
    }

    /// Does every request waiting in the inbox, oldest first, and answers each. Returns the
    /// replies, for the supervisor's log.
    pub fn serve_requests(&mut self) -> anyhow::Result<Vec<Reply>> {
        let dir = inbox(&self.state_dir);
        let Ok(entries) = fs::read_dir(&dir) else {
            return Ok(Vec::new());
        };
        let mut requests: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        requests.sort();
        let mut replies = Vec::new();
        for path in &requests {
            let reply = match fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))
                .and_then(|t| serde_json::from_str::<Request>(&t).map_err(Into::into))
                .and_then(|r| self.apply(&r))
            {
                Ok(message) => Reply { ok: true, message },
                Err(e) => Reply {
                    ok: false,
                    message: format!("{e:#}"),
                },
            };
            self.save()?;
            write_atomic(&path.with_extension("reply"), &reply)?;
            let _ = fs::remove_file(path);
            replies.push(reply);
        }
        Ok(replies)
    }

    /// Does one request to one component.
    pub fn apply(&mut self, request: &Request) -> anyhow::Result<String> {
        let timeout = self.stop_timeout;
        let Some(r) = self
            .running
            .iter_mut()
            .find(|r| r.component.name == request.component)
        else {
            let known: Vec<&str> = self
                .running
                .iter()
                .map(|r| r.component.name.as_str())
                .collect();
            return Err(unknown_component(&request.component, known));
        };
        r.act(request.action, timeout)
    }

    fn save(&self) -> anyhow::Result<()> {
        LabState {
            supervisor_pid: std::process::id(),
            storage: self.storage,
            started_at: self.started_at,
            phase: self.phase,
            notes: self.notes.clone(),
            components: self.running.iter().map(Running::state).collect(),
        }
        .save(&self.state_dir)
    }

    /// Stops every component, last started first, each before the next: a writer flushes its
    /// queue while the stores it writes to are still up. SIGTERM, then SIGKILL after the timeout.
    pub fn stop_all(&mut self) {
        let pids: Vec<u32> = self
            .running
            .iter()
            .rev()
            .filter_map(|r| r.child.as_ref().map(Child::id))
            .collect();
        stop_in_order(&pids, self.stop_timeout);
        for r in &mut self.running {
            if let Some(mut c) = r.child.take() {
                let _ = c.wait();
            }
            r.ready = false;
            r.restart_at = None;
        }
        let _ = fs::remove_file(LabState::path(&self.state_dir));
        let _ = fs::remove_dir_all(inbox(&self.state_dir));
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        if self.running.iter().any(|r| r.child.is_some()) {
            self.stop_all();
        }
    }
}

/// Stops process groups one after the other: SIGTERM, wait up to `timeout`, SIGKILL.
pub fn stop_in_order(pids: &[u32], timeout: Duration) {
    for &pid in pids {
        stop_groups(&[pid], timeout);
    }
}

/// SIGTERM to each process group, wait until all are gone or `timeout` passes, then SIGKILL.
/// SIGCONT follows the SIGTERM, so a paused group hears it too.
pub fn stop_groups(pids: &[u32], timeout: Duration) {
    for &pid in pids {
        let _ = killpg(Pid::from_raw(pid as i32), Signal::SIGTERM);
        let _ = killpg(Pid::from_raw(pid as i32), Signal::SIGCONT);
    }
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline && pids.iter().any(|&p| group_alive(p)) {
        std::thread::sleep(Duration::from_millis(50));
    }
    for &pid in pids {
        if group_alive(pid) {
            let _ = killpg(Pid::from_raw(pid as i32), Signal::SIGKILL);
        }
    }
}

/// Whether any process of the group led by `pgid` is alive and not a zombie.
pub fn group_alive(pgid: u32) -> bool {
    if killpg(Pid::from_raw(pgid as i32), None).is_err() {
        return false;
    }
    // The group exists; it is alive unless every member is a zombie (only the leader, which we
    // reap ourselves, can be one for long).
    let Ok(entries) = fs::read_dir("/proc") else {
        return true;
    };
    entries.flatten().any(|e| {
        e.file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
            .and_then(proc_stat)
            .is_some_and(|(state, pgrp)| pgrp == pgid && running(&state))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_stat_reads_state_and_group_of_this_process() {
        let (state, pgrp) = proc_stat(std::process::id()).expect("/proc/self/stat");
        assert!(running(&state), "{state}");
        assert_eq!(pgrp, nix::unistd::getpgrp().as_raw() as u32);
        assert!(alive(std::process::id()));
        assert!(group_alive(pgrp));
    }

    #[test]
    fn a_reaped_process_is_neither_alive_nor_a_live_group() {
        let mut child = Command::new("true").process_group(0).spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        assert!(!alive(pid));
        assert!(!group_alive(pid));
    }

    fn sleeper(dir: &Path) -> Supervisor {
        let component = Component {
            name: "sleeper".into(),
            kind: Kind::MockExporter,
            args: vec!["1000".into()],
            env: Vec::new(),
            files: Vec::new(),
            http: "127.0.0.1:9".parse().unwrap(),
            listens: Vec::new(),
        };
        let mut sup = Supervisor::new(
            dir,
            vec![(component, "/bin/sleep".into())],
            Storage::Single,
            Vec::new(),
        )
        .unwrap();
        sup.stop_timeout = Duration::from_secs(2);
        sup.running[0].spawn().unwrap();
        sup
    }

    fn ask(sup: &mut Supervisor, action: Action) -> Reply {
        let dir = sup.state_dir.clone();
        let request = Request {
            component: "sleeper".into(),
            action,
        };
        let reply = send_request(&dir, &request).unwrap();
        assert_eq!(sup.serve_requests().unwrap().len(), 1);
        let r: Reply = serde_json::from_str(&fs::read_to_string(&reply).unwrap()).unwrap();
        assert_eq!(
            LabState::load(&dir).unwrap().components[0].status,
            sup.running[0].status
        );
        r
    }

    #[test]
    fn serve_requests_stops_without_restarting_and_starts_again() {
        let dir = tempfile::tempdir().unwrap();
        let mut sup = sleeper(dir.path());
        let pid = sup.running[0].child.as_ref().unwrap().id();
        let r = ask(&mut sup, Action::Stop);
        assert!(r.ok && r.message.starts_with("stopped sleeper"), "{r:?}");
        assert!(!alive(pid));
        assert_eq!(sup.running[0].status, Status::Stopped);
        std::thread::sleep(Duration::from_millis(600));
        assert!(!sup.watch(&mut |_| {}).unwrap());
        assert!(sup.running[0].child.is_none() && sup.running[0].restart_at.is_none());
        let r = ask(&mut sup, Action::Start);
        assert!(r.ok, "{r:?}");
        assert_eq!(sup.running[0].status, Status::Running);
        assert_eq!(
            sup.running[0].restarts, 0,
            "a start on request is not a restart"
        );
        let r = ask(&mut sup, Action::Start);
        assert!(!r.ok && r.message.contains("already running"), "{r:?}");
        sup.stop_all();
    }

    #[test]
    fn serve_requests_pauses_resumes_and_kills() {
        let dir = tempfile::tempdir().unwrap();
        let mut sup = sleeper(dir.path());
        let pid = sup.running[0].child.as_ref().unwrap().id();
        assert!(ask(&mut sup, Action::Pause).ok);
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(proc_stat(pid).unwrap().0, "T", "SIGSTOP leaves it stopped");
        assert!(
            !sup.watch(&mut |_| {}).unwrap(),
            "a paused process is not dead"
        );
        assert!(ask(&mut sup, Action::Resume).ok);
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(proc_stat(pid).unwrap().0, "S");
        let r = ask(&mut sup, Action::Kill);
        assert!(r.ok && r.message.contains("SIGKILL"), "{r:?}");
        assert!(!alive(pid));
        assert_eq!(sup.running[0].status, Status::Stopped);
        let r = ask(&mut sup, Action::Pause);
        assert_eq!(r.message, "sleeper is not running");
    }

    #[test]
    fn apply_refuses_an_unknown_name_listing_the_known() {
        let dir = tempfile::tempdir().unwrap();
        let mut sup = sleeper(dir.path());
        let e = sup
            .apply(&Request {
                component: "vminsert-9".into(),
                action: Action::Stop,
            })
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "no component named \"vminsert-9\" in this lab (known: sleeper)"
        );
    }

    #[test]
    fn watch_schedules_a_restart_instead_of_sleeping() {
        let dir = tempfile::tempdir().unwrap();
        let component = Component {
            name: "dies".into(),
            kind: Kind::MockExporter,
            args: vec!["-c".into(), "exit 3".into()],
            env: Vec::new(),
            files: Vec::new(),
            http: "127.0.0.1:9".parse().unwrap(),
            listens: Vec::new(),
        };
        let mut sup = Supervisor::new(
            dir.path(),
            vec![(component, "/bin/sh".into())],
            Storage::Single,
            Vec::new(),
        )
        .unwrap();
        sup.running[0].spawn().unwrap();
        // `sh -c "exit 3"` is gone well within this.
        std::thread::sleep(Duration::from_millis(300));
        let mut events = Vec::new();
        let t0 = Instant::now();
        assert!(sup.watch(&mut |e| events.push(format!("{e:?}"))).unwrap());
        // A fresh death waits 500 ms before the restart, but watch returns at once.
        assert!(
            t0.elapsed() < Duration::from_millis(300),
            "{:?}",
            t0.elapsed()
        );
        assert!(events[0].starts_with("Died"), "{events:?}");
        assert!(sup.running[0].restart_at.is_some());
        assert!(!sup.watch(&mut |e| events.push(format!("{e:?}"))).unwrap());
        assert_eq!(events.len(), 1, "{events:?}");
        std::thread::sleep(Duration::from_millis(600));
        assert!(sup.watch(&mut |e| events.push(format!("{e:?}"))).unwrap());
        assert!(events[1].starts_with("Restarted"), "{events:?}");
        assert_eq!(sup.running[0].restarts, 1);
        sup.stop_all();
    }
}
