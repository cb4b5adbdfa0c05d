//! Stopping, starting, pausing and killing one component of a running lab, natively or under
//! systemd, behind one [`Control`] trait: `labctl stop|start|restart|pause|resume|kill NAME`
//! and `labctl chaos` use it, so the native lab and the NixOS VMs share one implementation of
//! "inject a fault, wait, count".
//!
//! - [`Native`] asks the lab's supervisor (`labctl up`), the only owner of its processes, through
//!   its inbox ([`crate::lab::supervise::Request`]) and waits, bounded, until the state file shows
//!   the outcome: the status, and readiness after a start.
//! - [`Systemd`] runs `systemctl` on the units `rwlab-NAME` that the NixOS modules define: stop,
//!   start, restart, and `systemctl kill -s SIGSTOP|SIGCONT|SIGKILL` for pause, resume and kill.
//!
//! This module changes processes; it does not decide which (see [`crate::lab::chaos`]).

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::lab::supervise::{self, alive, Action, LabState, Reply, Request, Status};

/// One way to act on a running lab's components.
pub trait Control {
    /// The component names this lab has.
    fn names(&self) -> anyhow::Result<Vec<String>>;

    /// Does `action` to `name` and returns once it is done (after a start or restart, once the
    /// component is ready), with what was done. Unknown names are an error listing the known.
    fn act(&self, name: &str, action: Action) -> anyhow::Result<String>;

    /// What this control is, for reports: `native` or `systemd`.
    fn kind(&self) -> &'static str;
}

/// A lab run by `labctl up` (detached or in the foreground) from `state_dir`.
pub struct Native {
    pub state_dir: PathBuf,
    /// How long to wait for the supervisor's reply and for the outcome.
    pub timeout: Duration,
}

impl Native {
    fn state(&self) -> anyhow::Result<LabState> {
        let state = LabState::load(&self.state_dir)?;
        if !alive(state.supervisor_pid) {
            bail!(
                "the labctl that ran the lab in {} (pid {}) is gone: start the lab again with `labctl up`",
                self.state_dir.display(),
                state.supervisor_pid
            );
        }
        Ok(state)
    }

    /// Waits for the supervisor's reply to the request at `reply`.
    fn wait_reply(&self, reply: &std::path::Path, deadline: Instant) -> anyhow::Result<Reply> {
        loop {
            if let Ok(text) = std::fs::read_to_string(reply) {
                let _ = std::fs::remove_file(reply);
                return serde_json::from_str(&text)
                    .with_context(|| format!("reading {}", reply.display()));
            }
            if Instant::now() > deadline {
                bail!(
                    "the supervisor did not answer within {}s (is `labctl up` busy or hung? see its log)",
                    self.timeout.as_secs()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until the state file shows `name` with `status` (and ready, when running).
    fn wait_outcome(&self, name: &str, status: Status, deadline: Instant) -> anyhow::Result<()> {
        loop {
            let state = self.state()?;
            let c = state.component(name)?;
            let ready = status != Status::Running || c.ready;
            if c.status == status && ready {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "{name} is {} (ready: {}) after {}s, not {}{}",
                    c.status.as_str(),
                    c.ready,
                    self.timeout.as_secs(),
                    status.as_str(),
                    if status == Status::Running {
                        " and ready"
                    } else {
                        ""
                    }
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Control for Native {
    fn names(&self) -> anyhow::Result<Vec<String>> {
        Ok(self
            .state()?
            .components
            .into_iter()
            .map(|c| c.name)
            .collect())
    }

    fn act(&self, name: &str, action: Action) -> anyhow::Result<String> {
        self.state()?.component(name)?;
        let deadline = Instant::now() + self.timeout;
        let request = Request {
            component: name.to_string(),
            action,
        };
        let reply_path = supervise::send_request(&self.state_dir, &request)?;
        let reply = self.wait_reply(&reply_path, deadline)?;
        if !reply.ok {
            bail!("{}", reply.message);
        }
        self.wait_outcome(name, action.outcome(), deadline)?;
        Ok(reply.message)
    }

    fn kind(&self) -> &'static str {
        "native"
    }
}

/// A lab whose components are the systemd units `rwlab-NAME` (the NixOS modules).
pub struct Systemd {
    /// The names the lab's topology gives its components.
    pub names: Vec<String>,
}

impl Systemd {
    /// The `systemctl` arguments that do `action` to `unit`.
    pub fn argv(unit: &str, action: Action) -> Vec<String> {
        let words: &[&str] = match action {
            Action::Stop => &["stop"],
            Action::Start => &["start"],
            Action::Restart => &["restart"],
            Action::Pause => &["kill", "-s", "SIGSTOP"],
            Action::Resume => &["kill", "-s", "SIGCONT"],
            Action::Kill => &["kill", "-s", "SIGKILL"],
        };
        words
            .iter()
            .map(|w| w.to_string())
            .chain([unit.to_string()])
            .collect()
    }
}

impl Control for Systemd {
    fn names(&self) -> anyhow::Result<Vec<String>> {
        Ok(self.names.clone())
    }

    fn act(&self, name: &str, action: Action) -> anyhow::Result<String> {
        if !self.names.iter().any(|n| n == name) {
            return Err(supervise::unknown_component(name, &self.names));
        }
        let unit = format!("rwlab-{name}");
        let argv = Systemd::argv(&unit, action);
        let out = Command::new("systemctl")
            .args(&argv)
            .output()
            .context("running systemctl (is this a systemd host?)")?;
        if !out.status.success() {
            bail!(
                "systemctl {} failed ({}): {}",
                argv.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(format!("systemctl {}", argv.join(" ")))
    }

    fn kind(&self) -> &'static str {
        "systemd"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argv_maps_each_action_onto_systemctl() {
        assert_eq!(
            Systemd::argv("rwlab-vminsert-1", Action::Stop),
            ["stop", "rwlab-vminsert-1"]
        );
        assert_eq!(
            Systemd::argv("rwlab-vmagent-us-east-1", Action::Pause),
            ["kill", "-s", "SIGSTOP", "rwlab-vmagent-us-east-1"]
        );
        assert_eq!(
            Systemd::argv("u", Action::Kill),
            ["kill", "-s", "SIGKILL", "u"]
        );
        assert_eq!(Systemd::argv("u", Action::Resume)[2], "SIGCONT");
    }

    #[test]
    fn systemd_refuses_an_unknown_name_listing_the_known() {
        let s = Systemd {
            names: vec!["vminsert-1".into(), "vmagent-us-east-1".into()],
        };
        let e = s.act("vminsert-9", Action::Stop).unwrap_err();
        assert_eq!(
            e.to_string(),
            "no component named \"vminsert-9\" in this lab (known: vminsert-1, vmagent-us-east-1)"
        );
    }
}
