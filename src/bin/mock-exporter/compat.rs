//! `mock-exporter compat`: the remote-write compatibility matrix from real receivers.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use remote_write_lab::compat::matrix::{self, CASES};
use remote_write_lab::compat::receivers::Kind;

/// Regenerate the remote-write compatibility matrix from real requests.
///
/// For each receiver on PATH (victoria-metrics; prometheus; vmagent forwarding to
/// victoria-metrics; vmstorage + vminsert + vmselect) and each case (1.0, 2.0, out-of-order,
/// older than the window, two senders), a fresh receiver is started on loopback, sent one
/// round of the model per step, read back, and stopped. Receivers missing from PATH are listed
/// as skipped. Takes a minute or two.
///
///   $ mock-exporter compat --out docs/compatibility.md
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct CompatArgs {
    /// Where to write the Markdown; standard output when absent.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

pub fn main(args: CompatArgs) -> ExitCode {
    let mut cells = Vec::new();
    let mut skipped = Vec::new();
    for kind in Kind::ALL {
        if let Some(p) = kind.missing() {
            skipped.push((kind, format!("{p} is not on PATH")));
            continue;
        }
        for case in CASES {
            tracing::info!(receiver = kind.name(), case = case.name, "running");
            match matrix::run_case(kind, *case) {
                Ok(c) => cells.push(c),
                Err(e) => {
                    eprintln!("mock-exporter: {} / {}: {e:#}", kind.name(), case.name);
                    return ExitCode::from(2);
                }
            }
        }
    }
    let md = matrix::markdown(&cells, &skipped);
    match args.out {
        None => print!("{md}"),
        Some(path) => {
            if let Err(e) = std::fs::write(&path, md) {
                eprintln!("mock-exporter: writing {}: {e}", path.display());
                return ExitCode::from(2);
            }
        }
    }
    ExitCode::SUCCESS
}
