//! `labctl logs`: a component's log.

use anyhow::{bail, Context};
use clap::Args;

use super::{LabArgs, Outcome};
use crate::lab::supervise;

/// Print a component's log (from the state folder, also after the lab stopped).
///
///   $ labctl logs vminsert-1
///   $ labctl logs vmagent-eu-west-1 --lines 50
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct LogsArgs {
    #[command(flatten)]
    pub lab: LabArgs,

    /// Component name, as `labctl status` lists them.
    #[arg(value_name = "NAME")]
    pub name: String,

    /// Print only the last N lines.
    #[arg(long, short = 'n', value_name = "N")]
    pub lines: Option<usize>,
}

pub fn run(args: LogsArgs) -> anyhow::Result<Outcome> {
    let dir = args.lab.state_dir()?.join("logs");
    let path = dir.join(format!("{}.log", args.name));
    if !path.is_file() {
        let mut known: Vec<String> = std::fs::read_dir(&dir)
            .map(|rd| {
                rd.flatten()
                    .filter_map(|e| {
                        e.file_name()
                            .to_str()?
                            .strip_suffix(".log")
                            .map(str::to_string)
                    })
                    .collect()
            })
            .unwrap_or_default();
        known.sort();
        bail!(
            "no log for {:?} in {} (known: {})",
            args.name,
            dir.display(),
            if known.is_empty() {
                "none".into()
            } else {
                known.join(", ")
            }
        );
    }
    match args.lines {
        Some(n) => println!("{}", supervise::tail(&path, n)),
        None => print!(
            "{}",
            std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?
        ),
    }
    Ok(Outcome::Ok)
}
