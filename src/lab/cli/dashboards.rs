//! `labctl dashboards check`: every panel query of every dashboard, against the live lab.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::bail;
use clap::{Args, Subcommand};

use super::endpoints::EndpointArgs;
use super::{LabArgs, Outcome};
use crate::lab::dashboards::{self, Vars};

/// Work with the lab's Grafana dashboards.
#[derive(Debug, Args)]
pub struct DashboardsArgs {
    #[command(subcommand)]
    command: DashboardsCommand,
}

#[derive(Debug, Subcommand)]
enum DashboardsCommand {
    Check(CheckArgs),
}

/// Run every panel query of every dashboard against the running lab.
///
/// Substitutes the template variables (each region of lab.toml in turn, with its cluster and
/// environment; $__rate_interval as four scrape intervals), runs each target through its panel's
/// datasource (uid `victoriametrics`: through vmauth; uid `prometheus-receiver`: the receiver)
/// and fails when a query errors or returns no series. Also checks that every dashboard has a
/// unique uid and names datasources by uid. Grafana itself is not needed.
///
///   $ labctl dashboards check
///   $ labctl dashboards check --fast --json
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
struct CheckArgs {
    #[command(flatten)]
    lab: LabArgs,

    #[command(flatten)]
    endpoints: EndpointArgs,

    /// Folder of dashboard JSON files (default: grafana/dashboards beside lab.toml).
    #[arg(long, value_name = "DIR", help_heading = "Lab")]
    dir: Option<PathBuf>,

    /// Print JSON instead of a table.
    #[arg(long, help_heading = "Output")]
    json: bool,
}

pub fn run(args: DashboardsArgs) -> anyhow::Result<Outcome> {
    match args.command {
        DashboardsCommand::Check(a) => check(a),
    }
}

fn check(args: CheckArgs) -> anyhow::Result<Outcome> {
    let (t, e) = args.endpoints.resolve(&args.lab)?;
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(|| args.lab.beside("grafana/dashboards"));
    let boards = dashboards::load(&dir)?;
    let problems = dashboards::validate(&boards, &["victoriametrics", "prometheus-receiver"]);
    if !problems.is_empty() {
        bail!(
            "{} dashboard problems:\n  {}",
            problems.len(),
            problems.join("\n  ")
        );
    }
    let datasources = BTreeMap::from([
        ("victoriametrics".to_string(), e.query.clone()),
        ("prometheus-receiver".to_string(), e.receiver.clone()),
    ]);
    let interval = e.scrape_interval;
    let vars: Vec<Vars> = t
        .region
        .iter()
        .map(|r| Vars {
            region: r.name.clone(),
            cluster: r.cluster.clone(),
            environment: r.environment.clone(),
            rate_interval: (interval * 4).max(Duration::from_secs(1)),
            interval,
        })
        .collect();
    let outcomes = dashboards::check(&boards, &datasources, &vars, e.storage);
    let failed: Vec<&dashboards::Outcome> = outcomes.iter().filter(|o| !o.ok()).collect();
    let skipped = outcomes.iter().filter(|o| o.skipped).count();
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "dashboards": boards.len(),
                "queries": outcomes.len(),
                "failed": failed.len(),
                "skipped": skipped,
                "outcomes": outcomes,
            }))?
        );
    } else {
        for b in &boards {
            print_dashboard(b, &outcomes);
        }
        let skip_note = if skipped > 0 {
            format!(
                ", {skipped} skipped ({} panels on a single-node lab)",
                dashboards::CLUSTER_ONLY
            )
        } else {
            String::new()
        };
        println!(
            "{} queries, {} failed{skip_note}",
            outcomes.len(),
            failed.len()
        );
    }
    let _ = std::io::stdout().flush();
    Ok(if failed.is_empty() {
        Outcome::Ok
    } else {
        Outcome::Failed
    })
}

/// One dashboard's line, then each failed query of it.
fn print_dashboard(b: &dashboards::Dashboard, outcomes: &[dashboards::Outcome]) {
    let mine: Vec<&dashboards::Outcome> = outcomes
        .iter()
        .filter(|o| o.target.dashboard == b.uid())
        .collect();
    let bad = mine.iter().filter(|o| !o.ok()).count();
    let panels: std::collections::BTreeSet<&str> =
        mine.iter().map(|o| o.target.panel.as_str()).collect();
    println!(
        "{}  {} ({}): {} panels, {} queries{}",
        if bad == 0 { "PASS" } else { "FAIL" },
        b.title(),
        b.uid(),
        panels.len(),
        mine.len(),
        if bad == 0 {
            String::new()
        } else {
            format!(", {bad} failed")
        }
    );
    for o in mine.iter().filter(|o| !o.ok()) {
        let why = o.error.clone().unwrap_or_else(|| "no series".into());
        let region = if o.region.is_empty() {
            String::new()
        } else {
            format!(" [{}]", o.region)
        };
        println!(
            "      {} {}{region}: {why}\n        {}",
            o.target.panel, o.target.ref_id, o.query
        );
    }
}
