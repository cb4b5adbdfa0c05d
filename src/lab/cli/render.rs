//! `labctl render`: write the lab's configs and print its command lines, without starting it.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use super::{LabArgs, Outcome, RunArgs};
use crate::lab::render;

/// Write every config file the lab uses into a folder and print each command line.
///
/// Nothing is started. Useful to read what `labctl up` would run, or to check the configs:
///
///   $ labctl render --out /tmp/lab-configs
///   $ promtool check config /tmp/lab-configs/config/prometheus-writer.yml
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct RenderArgs {
    #[command(flatten)]
    pub lab: LabArgs,

    #[command(flatten)]
    pub run: RunArgs,

    /// Render vmauth's config for versions before v1.84 (basic auth only).
    #[arg(long, help_heading = "Lab")]
    pub legacy_vmauth: bool,

    /// Folder to render into (it stands in for the state folder in every path).
    #[arg(long, value_name = "DIR", help_heading = "Output")]
    pub out: PathBuf,
}

pub fn run(args: RenderArgs) -> anyhow::Result<Outcome> {
    let t = args.lab.topology()?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let out = std::fs::canonicalize(&args.out)?;
    let plan = render::plan(
        &t,
        &render::Options {
            storage: args.run.storage,
            scrape_interval: t.interval(args.run.fast),
            state_dir: out.clone(),
            vmauth_unauthorized_user: !args.legacy_vmauth,
            grafana_home: None,
            dashboards_dir: out.join("dashboards"),
            rules_dir: std::fs::canonicalize(args.lab.beside("rules"))
                .unwrap_or_else(|_| args.lab.beside("rules")),
        },
    );
    for c in &plan {
        for (path, content) in &c.files {
            if let Some(d) = path.parent() {
                std::fs::create_dir_all(d)?;
            }
            std::fs::write(path, content).with_context(|| format!("writing {}", path.display()))?;
        }
        let env: String = c.env.iter().map(|(k, v)| format!("{k}={v} ")).collect();
        println!("{}: {env}{} {}", c.name, c.program(), c.args.join(" "));
    }
    Ok(Outcome::Ok)
}
