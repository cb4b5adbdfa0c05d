//! `labctl stop|start|restart|pause|resume|kill NAME`: act on one component of a running lab.
//!
//! The six verbs share their arguments, so they share this file; [`ControlArgs`] (how to reach
//! the components) is shared with `labctl chaos`.

use std::time::Duration;

use clap::{Args, ValueEnum};

use super::{parse_duration, LabArgs, Outcome};
use crate::lab::control::{Control, Native, Systemd};
use crate::lab::render;
use crate::lab::supervise::Action;
use crate::lab::victoria::Storage;

/// How `labctl` reaches a lab's components.
#[derive(Debug, Clone, Args)]
pub struct ControlArgs {
    /// `native`: ask the `labctl up` that runs the lab from --state-dir (detached or not).
    /// `systemd`: run `systemctl` on the units rwlab-NAME (the NixOS modules).
    #[arg(long, value_enum, default_value_t = ControlKind::Native, help_heading = "Lab")]
    pub control: ControlKind,

    /// How long to wait until an action is done (a start: until the component is ready).
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration, help_heading = "Lab")]
    pub control_timeout: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ControlKind {
    Native,
    Systemd,
}

impl ControlArgs {
    /// The control for the lab `lab` describes.
    pub fn build(&self, lab: &LabArgs) -> anyhow::Result<Box<dyn Control>> {
        Ok(match self.control {
            ControlKind::Native => Box::new(Native {
                state_dir: lab.state_dir()?,
                timeout: self.control_timeout,
            }),
            ControlKind::Systemd => {
                let t = lab.topology()?;
                let mut names = vec!["mock-exporter".to_string()];
                for storage in [Storage::Cluster, Storage::Single] {
                    for (name, _, _) in render::monitored(&t, storage) {
                        if !names.contains(&name) {
                            names.push(name);
                        }
                    }
                }
                Box::new(Systemd { names })
            }
        })
    }
}

/// One component, and how to reach it.
#[derive(Debug, Args)]
pub struct ComponentArgs {
    /// The component, as `labctl status` names it (vminsert-1, vmagent-us-east-1, …).
    #[arg(value_name = "NAME")]
    pub name: String,

    #[command(flatten)]
    pub lab: LabArgs,

    #[command(flatten)]
    pub control: ControlArgs,
}

pub fn run(action: Action, args: ComponentArgs) -> anyhow::Result<Outcome> {
    let control = args.control.build(&args.lab)?;
    let done = control.act(&args.name, action)?;
    println!("{done}");
    Ok(Outcome::Ok)
}
