//! Running the lab's processes: spawn, wait until ready, watch, restart, stop.
//!
//! Each component runs in its own process group with its log in `STATE/logs/NAME.log`. A
//! component is ready when its HTTP readiness path answers 200. Stopping sends SIGTERM to every
//! group (last started first), waits up to a timeout, then SIGKILLs what is left; dropping a
//! [`Supervisor`] does the same, so no process outlives it. The state file `STATE/state.json`
//! lets `labctl status` and `labctl down` find a detached lab.
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

    /// The path of `program`, if it can be found.
    pub fn find(&self, program: &str) -> Option<PathBuf> {
        if let Some(p) = self.overrides.get(program) {
            return Some(p.clone());
        }
        if let Some(dir) = &self.beside {
            let p = dir.join(program);
            if is_executable(&p) {
                return Some(p);
            }
        }
        find_on_path(program)
    }
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// `program` on PATH.
pub fn find_on_path(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(program))
            .find(|p| is_executable(p))
    })
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
}

/// The state file of a running lab.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LabState {
    /// The `labctl up` process that supervises the lab.
    pub supervisor_pid: u32,
    pub storage: String,
    pub started_at: u64,
    /// Set once every component was ready.
    pub ready: bool,
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
        let p = LabState::path(state_dir);
        let tmp = p.with_extension("json.tmp");
        fs::write(&tmp, serde_json::to_vec_pretty(self)?)
            .with_context(|| format!("writing {}", tmp.display()))?;
        fs::rename(&tmp, &p).with_context(|| format!("writing {}", p.display()))?;
        Ok(())
    }
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

struct Running {
    component: Component,
    program: PathBuf,
    child: Option<Child>,
    log: PathBuf,
    ready: bool,
    restarts: u32,
    last_start: Instant,
}

/// Supervises a set of components; stops them all when dropped.
pub struct Supervisor {
    state_dir: PathBuf,
    running: Vec<Running>,
    pub stop_timeout: Duration,
    pub ready_timeout: Duration,
    pub max_restarts: u32,
    storage: String,
    notes: Vec<String>,
    started_at: u64,
    ready: bool,
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
    /// Prepares to run `components`; `programs` holds each component's executable.
    pub fn new(
        state_dir: &Path,
        components: Vec<(Component, PathBuf)>,
        storage: &str,
        notes: Vec<String>,
    ) -> anyhow::Result<Supervisor> {
        fs::create_dir_all(state_dir.join("logs"))
            .with_context(|| format!("creating {}", state_dir.join("logs").display()))?;
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
            })
            .collect();
        Ok(Supervisor {
            state_dir: state_dir.to_path_buf(),
            running,
            stop_timeout: Duration::from_secs(10),
            ready_timeout: Duration::from_secs(60),
            max_restarts: 5,
            storage: storage.to_string(),
            notes,
            started_at: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            ready: false,
        })
    }

    fn spawn(r: &mut Running) -> anyhow::Result<()> {
        for (path, content) in &r.component.files {
            if let Some(dir) = path.parent() {
                fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            }
            fs::write(path, content).with_context(|| format!("writing {}", path.display()))?;
        }
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&r.log)
            .with_context(|| format!("opening {}", r.log.display()))?;
        let child = Command::new(&r.program)
            .args(&r.component.args)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .process_group(0)
            .spawn()
            .with_context(|| format!("starting {} ({})", r.component.name, r.program.display()))?;
        r.child = Some(child);
        r.ready = false;
        r.last_start = Instant::now();
        Ok(())
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
            Supervisor::spawn(r)?;
            self.save()?;
            let r = &mut self.running[i];
            wait_ready(r, self.ready_timeout)?;
            r.ready = true;
            progress(Event::Ready {
                name: &r.component.name,
                after: t0.elapsed(),
            });
            self.save()?;
        }
        self.ready = true;
        self.save()
    }

    /// Checks every component once: reports deaths, restarts with back-off, gives up after
    /// `max_restarts`. Returns whether anything changed.
    pub fn watch(&mut self, progress: &mut dyn FnMut(Event)) -> anyhow::Result<bool> {
        let mut changed = false;
        for r in &mut self.running {
            let Some(child) = r.child.as_mut() else {
                continue;
            };
            let Some(status) = child.try_wait()? else {
                if !r.ready && probe(&r.component) {
                    r.ready = true;
                    changed = true;
                }
                continue;
            };
            r.child = None;
            r.ready = false;
            changed = true;
            progress(Event::Died {
                name: &r.component.name,
                status,
                log: &r.log,
                tail: tail(&r.log, 15),
            });
            if r.restarts >= self.max_restarts {
                progress(Event::GaveUp {
                    name: &r.component.name,
                    restarts: r.restarts,
                });
                continue;
            }
            // Back off: a component that died within seconds of starting waits longer.
            let backoff = Duration::from_millis(500 * 2u64.pow(r.restarts.min(4)));
            std::thread::sleep(
                backoff
                    .saturating_sub(r.last_start.elapsed())
                    .min(Duration::from_secs(8)),
            );
            r.restarts += 1;
            Supervisor::spawn(r)?;
            progress(Event::Restarted {
                name: &r.component.name,
                restarts: r.restarts,
            });
        }
        if changed {
            self.save()?;
        }
        Ok(changed)
    }

    fn save(&self) -> anyhow::Result<()> {
        LabState {
            supervisor_pid: std::process::id(),
            storage: self.storage.clone(),
            started_at: self.started_at,
            ready: self.ready,
            notes: self.notes.clone(),
            components: self
                .running
                .iter()
                .map(|r| ComponentState {
                    name: r.component.name.clone(),
                    kind: r.component.kind,
                    pid: r.child.as_ref().map(Child::id),
                    port: r.component.port(),
                    ready_url: r.component.ready_url(),
                    ready: r.ready,
                    restarts: r.restarts,
                    log: r.log.clone(),
                    command: std::iter::once(r.program.display().to_string())
                        .chain(r.component.args.iter().cloned())
                        .collect(),
                })
                .collect(),
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
        }
        let _ = fs::remove_file(LabState::path(&self.state_dir));
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
pub fn stop_groups(pids: &[u32], timeout: Duration) {
    for &pid in pids {
        let _ = killpg(Pid::from_raw(pid as i32), Signal::SIGTERM);
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

fn probe(c: &Component) -> bool {
    let agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(2)))
        .build()
        .new_agent();
    matches!(agent.get(&c.ready_url()).call(), Ok(r) if r.status() == 200)
}

fn wait_ready(r: &mut Running, timeout: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        if probe(&r.component) {
            return Ok(());
        }
        if let Some(status) = r.child.as_mut().map(Child::try_wait).transpose()?.flatten() {
            r.child = None;
            bail!(
                "{} exited ({status}) before it was ready; the end of {}:\n{}",
                r.component.name,
                r.log.display(),
                tail(&r.log, 20)
            );
        }
        if Instant::now() > deadline {
            bail!(
                "{} was not ready at {} after {}s; the end of {}:\n{}",
                r.component.name,
                r.component.ready_url(),
                timeout.as_secs(),
                r.log.display(),
                tail(&r.log, 20)
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
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
}
