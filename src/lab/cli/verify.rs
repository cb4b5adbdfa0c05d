//! `labctl verify`: prove a running lab end to end.

use std::io::Write;
use std::time::{Duration, Instant};

use clap::Args;

use super::endpoints::EndpointArgs;
use super::{parse_duration, LabArgs, Outcome};
use crate::lab::verify::{self, Status};

/// Check a running lab end to end and print a pass/fail table.
///
/// Works against any lab, native or in VMs: every endpoint defaults to lab.toml and can be set
/// with a flag. The checks:
///   1. every exporter series arrives in VictoriaMetrics once per region, with region, cluster,
///      environment, availability_zone and job labels (nothing lost, nothing duplicated);
///   2. the receiver, and VictoriaMetrics, hold the writer's series with the writer's labels;
///   3. the newest raw sample per region (read with /api/v1/export) is younger than the path's
///      delay budget: the scrape interval, vmagent's flush, vminsert's buffer (cluster), the
///      storage's flush and a margin, printed with the evidence;
///   4. each vmagent sent only to its assigned vminsert, and each vminsert accepted rows;
///   5. both vmstorage nodes hold rows and both vmselects served queries (cluster only);
///   6. VictoriaMetrics and the receiver return the same value at the same timestamp for sampled
///      series of the writer, at an instant older than the writer path's delay budget.
///   7. the writer answers `up{job="lab"}`, which only the receiver holds, through remote read;
///   8. vmalert and the Prometheus receiver loaded the same rules (rules/*.yml) with no rule
///      failing, and Alertmanager holds the always-firing Watchdog alert from each (label
///      evaluator="vmalert" or "prometheus-receiver").
///
/// Exit code 0 when nothing failed, 1 when a check failed, 2 on bad input.
///
///   $ labctl verify
///   $ labctl verify --wait 60s --fast
///   $ labctl verify --query-url http://vmauth:8427/select/0/prometheus --receiver-url http://receiver:9091 …
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub lab: LabArgs,

    #[command(flatten)]
    pub endpoints: EndpointArgs,

    /// Retry until every check passes or DURATION has passed.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, help_heading = "Checks")]
    pub wait: Option<Duration>,

    /// Print JSON instead of a table.
    #[arg(long, help_heading = "Output")]
    pub json: bool,
}

pub fn run(args: VerifyArgs) -> anyhow::Result<Outcome> {
    let (_, e) = args.endpoints.resolve(&args.lab)?;
    let started = Instant::now();
    let deadline = args.wait.map(|w| started + w);
    let mut checks = verify::run(&e);
    while let Some(d) = deadline {
        if verify::passed(&checks) || Instant::now() >= d {
            break;
        }
        if !args.json {
            let pass = checks.iter().filter(|c| c.status != Status::Fail).count();
            let first = checks.iter().find(|c| c.status == Status::Fail);
            eprintln!(
                "waiting ({:.0}s): {pass}/{} checks pass; {}",
                started.elapsed().as_secs_f64(),
                checks.len(),
                first
                    .map(|c| format!("{}. {}", c.id, truncate(&c.detail, 110)))
                    .unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_secs(1).min(e.scrape_interval));
        checks = verify::run(&e);
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "storage": e.storage,
                "passed": verify::passed(&checks),
                "seconds": started.elapsed().as_secs_f64(),
                "checks": checks,
            }))?
        );
    } else {
        print!("{}", verify::table(&checks));
    }
    let _ = std::io::stdout().flush();
    Ok(if verify::passed(&checks) {
        Outcome::Ok
    } else {
        Outcome::Failed
    })
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        s.chars().take(n).collect::<String>() + "…"
    }
}
