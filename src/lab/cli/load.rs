//! `labctl load`: the write ceiling of a running lab.

use std::time::Duration;

use clap::Args;
use serde_json::json;

use super::{parse_duration, LabArgs, Outcome};
use crate::lab::load::{self, Ramp, Step, Target};
use crate::lab::render;
use crate::lab::supervise::LabState;
use crate::lab::topology::Topology;
use crate::lab::victoria::Storage;

/// Ramp remote-write load into the running lab until it gives: the lab's write ceiling.
///
/// Each step pushes mock-exporter's series straight to every vminsert (or the single node) for
/// --hold, one round of every series per --interval, then multiplies the hosts by --factor.
/// Each vminsert gets its own hosts (HOSTS per vminsert), so its own series.
/// A step is over the ceiling when a sample is dropped, the write p99 passes --p99, the
/// storage stores less than --stored-min of what was offered, or the generator itself falls
/// behind in more than a tenth of its rounds (it shares the machine's cores with the lab: then
/// the sender, not the lab, was the limit, and the report says so). The ramp stops at the first step over; the step before it
/// is the ceiling, reported in samples/s per vminsert and per vmstorage with each component's
/// CPU and memory, and the component that used the most CPU, the one that saturates first.
///
/// The lab keeps scraping meanwhile: its own load is part of the CPU figures, and what its
/// scrapes store (measured before the first step) is subtracted from the stored rates. The
/// pushed series are the exporter's, without `job` or `region` labels: they do not disturb
/// `labctl verify`. Method and figures for this lab: docs/capacity.md.
///
/// Exit code 0 with a ceiling found or every step within the limits, 1 when the first step is
/// already over (start lower with --start-scale), 2 on bad input or no running lab.
///
///   $ labctl load
///   $ labctl load --start-scale 20 --factor 1.5 --hold 40s --p99 500ms
///   $ labctl load --json > ceiling.json
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct LoadArgs {
    #[command(flatten)]
    pub lab: LabArgs,

    /// Hosts (about 930 series each) pushed to each vminsert in the first step.
    #[arg(long, value_name = "N", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=100_000), help_heading = "Ramp")]
    pub start_scale: u32,

    /// Each step multiplies the hosts by this.
    #[arg(long, value_name = "F", default_value_t = 2.0, value_parser = parse_factor, help_heading = "Ramp")]
    pub factor: f64,

    /// The most steps to run.
    #[arg(long, value_name = "N", default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..=50), help_heading = "Ramp")]
    pub max_steps: u16,

    /// How long each step pushes (at least 2 intervals). Stored, sent and p99 cover the whole
    /// step; CPU and memory its second half.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration, help_heading = "Ramp")]
    pub hold: Duration,

    /// One round of every series per INTERVAL (whole seconds).
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = parse_duration, help_heading = "Ramp")]
    pub interval: Duration,

    /// Requests in flight per stream.
    #[arg(long, value_name = "N", default_value_t = 2, help_heading = "Ramp")]
    pub concurrency: usize,

    /// Over the ceiling: a write p99 above this.
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = parse_duration, help_heading = "Limits")]
    pub p99: Duration,

    /// Over the ceiling: stored less than this share of the samples offered.
    #[arg(long, value_name = "SHARE", default_value_t = 0.95, value_parser = parse_share, help_heading = "Limits")]
    pub stored_min: f64,

    /// Print JSON instead of a table.
    #[arg(long, help_heading = "Output")]
    pub json: bool,
}

fn parse_factor(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(f) if f > 1.0 && f <= 10.0 => Ok(f),
        _ => Err(format!(
            "{s}: expected a number above 1 and at most 10, e.g. 2 or 1.5"
        )),
    }
}

fn parse_share(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(f) if f > 0.0 && f <= 1.0 => Ok(f),
        _ => Err(format!(
            "{s}: expected a share above 0 and at most 1, e.g. 0.95"
        )),
    }
}

pub fn run(args: LoadArgs) -> anyhow::Result<Outcome> {
    anyhow::ensure!(
        args.interval.as_secs() >= 1 && args.interval.subsec_nanos() == 0,
        "--interval {}: whole seconds, at least 1s",
        humantime::format_duration(args.interval)
    );
    anyhow::ensure!(
        args.hold >= 2 * args.interval,
        "--hold {}: at least two intervals ({})",
        humantime::format_duration(args.hold),
        humantime::format_duration(2 * args.interval)
    );
    anyhow::ensure!(
        (1..=64).contains(&args.concurrency),
        "--concurrency {}: between 1 and 64",
        args.concurrency
    );
    let t = args.lab.topology()?;
    let state = LabState::load(&args.lab.state_dir()?)?;
    let target = target(&t, state.storage);
    let ramp = Ramp {
        start_scale: args.start_scale,
        factor: args.factor,
        max_steps: usize::from(args.max_steps),
        hold: args.hold,
        interval_secs: args.interval.as_secs(),
        p99_limit: args.p99,
        stored_ratio_min: args.stored_min,
        concurrency: args.concurrency,
    };
    if !args.json {
        println!(
            "pushing to {} ({} storage), {} per step, ×{} hosts per step from {}:",
            target
                .writers
                .iter()
                .map(|w| w.0.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            state.storage.as_str(),
            humantime::format_duration(args.hold),
            args.factor,
            args.start_scale
        );
        println!("{}", header(&target));
    }
    let json = args.json;
    let steps = load::run(&ramp, &target, Some(&state), |s| {
        if !json {
            println!("{}", row(s));
        }
    })?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(
                &json!({ "steps": steps, "ceiling": verdict(&steps, &target) })
            )?
        );
    } else {
        println!("\n{}", verdict(&steps, &target));
    }
    let first_over = steps.first().is_some_and(|s| s.over.is_some());
    Ok(if first_over {
        Outcome::Failed
    } else {
        Outcome::Ok
    })
}

/// One stream per vminsert (or the single node); the nodes that store samples.
fn target(t: &Topology, storage: Storage) -> Target {
    match storage {
        Storage::Cluster => Target {
            writers: t
                .vminsert
                .iter()
                .map(|i| {
                    (
                        i.name.clone(),
                        render::remote_write_url(t, storage, &i.name),
                    )
                })
                .collect(),
            storage: load::storage_nodes(t, storage),
            copies: t.replication_factor,
        },
        Storage::Single => Target {
            writers: vec![(
                "victoria-metrics".into(),
                render::remote_write_url(t, storage, ""),
            )],
            storage: load::storage_nodes(t, storage),
            copies: 1,
        },
    }
}

fn header(target: &Target) -> String {
    let nodes: Vec<String> = target
        .storage
        .iter()
        .map(|s| format!("{} /s", s.0))
        .collect();
    format!(
        "{:>6} {:>8} {:>11} {:>11} {} {:>8} {:>9}  busiest",
        "hosts",
        "series",
        "offered /s",
        "sent /s",
        nodes
            .iter()
            .map(|n| format!("{n:>16}"))
            .collect::<Vec<_>>()
            .join(" "),
        "p99 ms",
        "lab cores"
    )
}

fn row(s: &Step) -> String {
    let offered = s.offered;
    let stored: Vec<String> = s.stored.iter().map(|x| format!("{:>16.0}", x.1)).collect();
    let busiest = s
        .busiest()
        .map(|u| format!("{} {:.2} cores", u.name, u.cpu_cores))
        .unwrap_or_default();
    let mut line = format!(
        "{:>6} {:>8} {:>11.0} {:>11.0} {} {:>8.0} {:>9.2}  {busiest}",
        s.scale,
        s.series,
        offered,
        s.sent_total(),
        stored.join(" "),
        s.p99_ms,
        s.lab_cpu()
    );
    if let Some(why) = &s.over {
        line += &format!("  OVER: {why}");
    }
    line
}

/// The ceiling in words: the last step within the limits, and what gave at the next.
fn verdict(steps: &[Step], target: &Target) -> String {
    let last_ok = steps.iter().rev().find(|s| s.over.is_none());
    let over = steps.iter().find(|s| s.over.is_some());
    let mut v = match last_ok {
        Some(s) => format!(
            "ceiling: {:.0} samples/s stored ({:.0} per {}, {:.0} rows per storage node over {}) at {} hosts per writer ({} series in all)",
            s.stored_samples(target.copies),
            s.sent_total() / target.writers.len() as f64,
            if target.writers.len() > 1 { "vminsert" } else { "writer" },
            s.stored_total() / target.storage.len() as f64,
            target.storage.len(),
            s.scale,
            s.series
        ),
        None => "no step stayed within the limits: start lower with --start-scale".into(),
    };
    match over {
        Some(o) => {
            v += &format!(
                "; over at {} hosts: {}",
                o.scale,
                o.over.as_deref().unwrap_or("")
            );
            let mut usage = o.usage.clone();
            usage.sort_by(|a, b| b.cpu_cores.total_cmp(&a.cpu_cores));
            let top: Vec<String> = usage
                .iter()
                .take(3)
                .map(|u| format!("{} {:.2} cores, {:.0} MiB", u.name, u.cpu_cores, u.rss_mib))
                .collect();
            if !top.is_empty() {
                v += &format!(
                    "; busiest then: {} (the first saturates first); the lab used {:.2} of {} cores",
                    top.join("; "),
                    o.lab_cpu(),
                    std::thread::available_parallelism().map_or(0, |n| n.get())
                );
            }
        }
        None => v += "; no step crossed a limit: raise --max-steps or --factor",
    }
    v
}
