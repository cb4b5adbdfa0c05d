//! `labctl verify`: prove a running lab end to end.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};

use super::{pairs_to_map, parse_duration, parse_pair, LabArgs, Outcome};
use crate::render::Storage;
use crate::verify::{self, Endpoints, Status};

/// Check a running lab end to end and print a pass/fail table.
///
/// Works against any lab, native or in VMs: every endpoint defaults to lab.toml and can be set
/// with a flag. The checks:
///   1. every exporter series arrives in VictoriaMetrics once per region, with region, cluster,
///      environment, availability_zone and job labels (nothing lost, nothing duplicated);
///   2. the receiver, and VictoriaMetrics, hold the writer's series with the writer's labels;
///   3. the newest sample per region is at most two scrape intervals old;
///   4. each vmagent sent only to its assigned vminsert, and each vminsert accepted rows;
///   5. both vmstorage nodes hold rows and both vmselects served queries (cluster only);
///   6. VictoriaMetrics and the receiver return the same value at the same timestamp for sampled
///      series of the writer.
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

    /// Storage of the lab: `auto` asks the first vminsert whether it is there.
    #[arg(long, value_enum, default_value_t = StorageChoice::Auto, help_heading = "Lab")]
    pub storage: StorageChoice,

    /// The lab scrapes at lab.toml's fast_scrape_interval (as `labctl up --fast`).
    #[arg(long, help_heading = "Lab")]
    pub fast: bool,

    /// Retry until every check passes or DURATION has passed.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, help_heading = "Checks")]
    pub wait: Option<Duration>,

    /// Print JSON instead of a table.
    #[arg(long, help_heading = "Output")]
    pub json: bool,

    /// The exporter's metrics URL.
    #[arg(long, value_name = "URL", help_heading = "Endpoints")]
    pub exporter_url: Option<String>,
    /// VictoriaMetrics' Prometheus query URL (through vmauth).
    #[arg(long, value_name = "URL", help_heading = "Endpoints")]
    pub query_url: Option<String>,
    /// The Prometheus receiver's base URL.
    #[arg(long, value_name = "URL", help_heading = "Endpoints")]
    pub receiver_url: Option<String>,
    /// A region's vmagent base URL. Repeatable.
    #[arg(long = "vmagent-url", value_name = "REGION=URL", value_parser = parse_pair, help_heading = "Endpoints")]
    pub vmagent_urls: Vec<(String, String)>,
    /// A vminsert's base URL (also the base of the remote-write URL expected from its vmagents). Repeatable.
    #[arg(long = "vminsert-url", value_name = "NAME=URL", value_parser = parse_pair, help_heading = "Endpoints")]
    pub vminsert_urls: Vec<(String, String)>,
    /// A vmstorage's HTTP base URL. Repeatable.
    #[arg(long = "vmstorage-url", value_name = "NAME=URL", value_parser = parse_pair, help_heading = "Endpoints")]
    pub vmstorage_urls: Vec<(String, String)>,
    /// A vmselect's base URL. Repeatable.
    #[arg(long = "vmselect-url", value_name = "NAME=URL", value_parser = parse_pair, help_heading = "Endpoints")]
    pub vmselect_urls: Vec<(String, String)>,
    /// The single node's base URL (with --storage single).
    #[arg(long, value_name = "URL", help_heading = "Endpoints")]
    pub single_url: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StorageChoice {
    Auto,
    Cluster,
    Single,
}

fn merge(
    target: &mut BTreeMap<String, String>,
    flags: &[(String, String)],
    what: &str,
) -> anyhow::Result<()> {
    for (name, url) in pairs_to_map(flags) {
        if !target.contains_key(&name) {
            anyhow::bail!(
                "--{what}-url {name}=…: lab.toml has no {what} named {name:?} (known: {})",
                target.keys().cloned().collect::<Vec<_>>().join(", ")
            );
        }
        target.insert(name, url.trim_end_matches('/').to_string());
    }
    Ok(())
}

fn endpoints(args: &VerifyArgs) -> anyhow::Result<Endpoints> {
    let t = args.lab.topology()?;
    let interval = t.interval(args.fast);
    let storage = match args.storage {
        StorageChoice::Cluster => Storage::Cluster,
        StorageChoice::Single => Storage::Single,
        StorageChoice::Auto => {
            let probe = Endpoints::from_topology(&t, Storage::Cluster, interval);
            let mut inserts = probe.inserts.clone();
            merge(&mut inserts, &args.vminsert_urls, "vminsert")?;
            let first = inserts.values().next().cloned().unwrap_or_default();
            let agent = ureq::Agent::config_builder()
                .timeout_global(Some(Duration::from_secs(2)))
                .build()
                .new_agent();
            if agent.get(&format!("{first}/health")).call().is_ok() {
                Storage::Cluster
            } else {
                Storage::Single
            }
        }
    };
    let mut e = Endpoints::from_topology(&t, storage, interval);
    if let Some(u) = &args.exporter_url {
        e.exporter = u.clone();
    }
    if let Some(u) = &args.query_url {
        e.query = u.trim_end_matches('/').to_string();
    }
    if let Some(u) = &args.receiver_url {
        e.receiver = u.trim_end_matches('/').to_string();
    }
    let mut agents: BTreeMap<String, String> = e
        .regions
        .iter()
        .map(|r| (r.name.clone(), r.vmagent.clone()))
        .collect();
    merge(&mut agents, &args.vmagent_urls, "vmagent")?;
    for r in &mut e.regions {
        r.vmagent = agents[&r.name].clone();
    }
    match storage {
        Storage::Cluster => merge(&mut e.inserts, &args.vminsert_urls, "vminsert")?,
        Storage::Single => {
            if let Some(u) = &args.single_url {
                e.inserts = [(
                    "victoria-metrics".to_string(),
                    u.trim_end_matches('/').to_string(),
                )]
                .into();
            }
        }
    }
    merge(&mut e.vmstorages, &args.vmstorage_urls, "vmstorage")?;
    merge(&mut e.vmselects, &args.vmselect_urls, "vmselect")?;
    let routes = t
        .region
        .iter()
        .map(|r| (r.name.clone(), r.vminsert.clone()))
        .collect();
    e.set_routes(&routes, t.tenant);
    Ok(e)
}

pub fn run(args: VerifyArgs) -> anyhow::Result<Outcome> {
    let e = endpoints(&args)?;
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
