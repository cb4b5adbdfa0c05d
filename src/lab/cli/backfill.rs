//! `labctl backfill`: history from before the lab started, so that long windows are full.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;

use super::endpoints::EndpointArgs;
use super::{parse_duration, LabArgs, Outcome};
use crate::exporter::push::{self, stats::Stats};
use crate::lab::backfill::{self, Origin, Plan};
use crate::lab::endpoints::{Endpoints, RegionExpect};
use crate::lab::query::Client;
use crate::lab::topology::{Exporter, Scale};

/// Write the history the lab's vmagents would have scraped before the lab started.
///
/// A lab minutes old has minutes of data: a rule or panel over 1 d reads those minutes only, so
/// the slow-burn SLO alert, `rate(…[1d])` and the probes' daily baseline mean little. The
/// exporter's page is a pure function of (seed, time, incidents in lab.toml), so the page of any
/// past second can be made again. For each region, backfill finds the first sample its vmagent
/// wrote (`tfirst_over_time(up{job="mock-exporter", region=…}[31d])`), generates the page as
/// that vmagent scrapes it (`?region=`) once per --step over --since before that sample, adds
/// the labels of the vmagent's own `up` series (job, instance, availability_zone, region,
/// cluster, environment), and writes it with remote write 1.0 to the vminsert the region
/// writes to (or the single node). The result is one series per scraped series, the backfilled
/// part joining the live one without overlap. Then it resets the rollup result cache of every
/// vmselect (or the single node), which may hold results computed before the backfill.
///
/// Before writing, backfill checks that the running exporter serves the fleet it will generate
/// (its series and hosts; pass --scale if the lab was started with `labctl up --scale`), and
/// that the history fits lab.toml's retention_period (VictoriaMetrics accepts older samples and
/// drops them).
///
/// Only VictoriaMetrics is backfilled: the Prometheus receiver rejects samples older than a
/// series' newest. vmagent's own series (`up`, `scrape_*`) are not written. Running backfill
/// again goes on from the oldest sample a region has, further back.
///
/// Exit code 0 when every sample was written, 1 when some were dropped (it stops at that
/// region), 2 on bad input, when the lab has no sample of a region yet, or runs another fleet.
///
///   $ labctl up --detach && labctl backfill              # one hour, at the scrape interval
///   $ labctl backfill --since 3d --step 1m               # the slow burn's 3-day window
///   $ labctl backfill --region eu-west-1 --since 75m --step 10s
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct BackfillArgs {
    #[command(flatten)]
    lab: LabArgs,

    #[command(flatten)]
    endpoints: EndpointArgs,

    /// How much history to write before each region's first sample.
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = parse_duration, help_heading = "History")]
    since: Duration,

    /// Time between two backfilled samples of a series, whole seconds (default: the lab's
    /// scrape interval). A longer step writes less and still serves windows longer than it.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, help_heading = "History")]
    step: Option<Duration>,

    /// How long to wait for each region's first sample (a lab just started has none yet).
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration, help_heading = "History")]
    wait: Duration,

    /// The lab's number of simulated hosts, when it was started with `labctl up --scale N`
    /// (default: lab.toml's [exporter] scale). Backfill checks it against the exporter's page.
    #[arg(long, value_name = "N", help_heading = "History")]
    scale: Option<Scale>,

    /// Backfill only this region. Repeatable (default: every region).
    #[arg(long = "region", value_name = "NAME", help_heading = "History")]
    regions: Vec<String>,
}

pub fn run(args: BackfillArgs) -> anyhow::Result<Outcome> {
    let (t, e) = args.endpoints.resolve(&args.lab)?;
    let step = args.step.unwrap_or(e.scrape_interval);
    if step.subsec_nanos() != 0 || step.is_zero() {
        anyhow::bail!(
            "--step must be whole seconds, at least 1s (the exporter's page changes once a second)"
        );
    }
    let regions = chosen(&e.regions, &args.regions)?;
    let client = Client::new();
    // Every region's origin and plan first: a lab without samples, or history beyond the
    // retention, fails before anything is written.
    let deadline = Instant::now() + args.wait;
    let origins = regions
        .iter()
        .map(|r| first_sample(&client, &e.query, &r.name, deadline).map(|o| (*r, o)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut exporter = t.exporter.clone();
    if let Some(n) = args.scale {
        exporter.scale = n;
    }
    same_fleet(&client, &e, &exporter)?;
    let retention = t.retention().map_err(anyhow::Error::msg)?;
    let plans = origins
        .iter()
        .map(|(_, o)| {
            let plan = Plan::before(o.first, args.since, step)?;
            plan.within(retention, push::unix_now())?;
            Ok(plan)
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let mut dropped = 0;
    for ((r, origin), plan) in origins.iter().zip(&plans) {
        let (sent, lost) = write_region(&runtime, &exporter, r, origin, plan)?;
        dropped += lost;
        if lost > 0 {
            // The store refuses or is gone: the other regions would fare no better.
            break;
        }
        // The storage makes rows searchable once its buffers flush; the caches are reset after
        // that, so that no query in between caches an answer without them.
        if sent > 0 {
            await_visible(&client, &e.query, &r.name, plan)?;
        }
    }
    reset_caches(&client, &e)?;
    Ok(if dropped == 0 {
        Outcome::Ok
    } else {
        eprintln!("labctl: {dropped} samples were dropped: the history has gaps");
        Outcome::Failed
    })
}

/// Checks that the running exporter is the fleet `exporter` describes (asked twice: a churn
/// between reading the page and generating the model's changes the hosts).
fn same_fleet(client: &Client, e: &Endpoints, exporter: &Exporter) -> anyhow::Result<()> {
    let model = backfill::exporter_model(exporter, push::unix_now())?;
    backfill::check_exporter(client, &e.exporter, &model).or_else(|_| {
        std::thread::sleep(Duration::from_secs(1));
        backfill::check_exporter(client, &e.exporter, &model)
    })
}

/// Resets the rollup result cache of every vmselect (or the single node).
fn reset_caches(client: &Client, e: &Endpoints) -> anyhow::Result<()> {
    let nodes = backfill::query_nodes(e);
    for (name, node) in &nodes {
        backfill::reset_cache(client, name, node)?;
    }
    let names: Vec<&str> = nodes.iter().map(|(n, _)| n.as_str()).collect();
    println!("reset the rollup result cache of {}", names.join(", "));
    Ok(())
}

/// The regions named (all when none); an unknown name is an error that lists the known ones.
fn chosen<'a>(all: &'a [RegionExpect], names: &[String]) -> anyhow::Result<Vec<&'a RegionExpect>> {
    if names.is_empty() {
        return Ok(all.iter().collect());
    }
    names
        .iter()
        .map(|n| {
            all.iter().find(|r| &r.name == n).with_context(|| {
                let known: Vec<&str> = all.iter().map(|r| r.name.as_str()).collect();
                format!(
                    "--region {n}: lab.toml has no such region (known: {})",
                    known.join(", ")
                )
            })
        })
        .collect()
}

/// The region's origin, asking again every second until `deadline` while the store has none.
fn first_sample(
    client: &Client,
    query: &crate::lab::endpoints::Endpoint,
    region: &str,
    deadline: Instant,
) -> anyhow::Result<Origin> {
    let mut told = false;
    loop {
        match backfill::origin(client, query, region) {
            Err(e) if Instant::now() < deadline => {
                if !told {
                    eprintln!("{region}: waiting for its first sample ({e:#})");
                    told = true;
                }
                std::thread::sleep(Duration::from_secs(1));
            }
            found => return found,
        }
    }
}

/// Waits until VictoriaMetrics serves the start of `plan` for `region`.
fn await_visible(
    client: &Client,
    query: &crate::lab::endpoints::Endpoint,
    region: &str,
    plan: &Plan,
) -> anyhow::Result<()> {
    let t0 = Instant::now();
    let mut told = false;
    while !backfill::visible(client, query, region, plan)? {
        if t0.elapsed() > VISIBLE_WITHIN {
            anyhow::bail!(
                "{region}: the history was written but VictoriaMetrics does not serve it after {}s \
                 ({} is newer than {})",
                VISIBLE_WITHIN.as_secs(),
                backfill::oldest_query(region),
                plan.start
            );
        }
        if !told {
            eprintln!("{region}: waiting for the storage to serve the history");
            told = true;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    Ok(())
}

/// How long written rows may take to become searchable (buffers of vminsert and the storage).
const VISIBLE_WITHIN: Duration = Duration::from_secs(60);

/// Writes one region's history; returns the samples written and dropped.
fn write_region(
    runtime: &tokio::runtime::Runtime,
    exporter: &Exporter,
    r: &RegionExpect,
    origin: &Origin,
    plan: &Plan,
) -> anyhow::Result<(u64, u64)> {
    let model = backfill::exporter_model(exporter, origin.first as u64)?;
    let cfg = backfill::push_config(plan, &r.name, origin, &r.remote_write_url)?;
    let samples = model.series_count() as u64 * plan.rounds;
    println!(
        "{}: {} rounds every {}s from {} to {} (before its first sample at {}), about {samples} samples → {}",
        r.name,
        plan.rounds,
        plan.step,
        rfc3339(plan.start),
        rfc3339(plan.last()),
        rfc3339(origin.first as u64),
        r.remote_write_url
    );
    let stats = Arc::new(Stats::new(std::slice::from_ref(&r.remote_write_url)));
    let started = Instant::now();
    let done = AtomicBool::new(false);
    let result = std::thread::scope(|s| {
        s.spawn(|| progress(&r.name, &stats, plan.rounds, &done));
        let result = runtime.block_on(push::run(model, cfg, stats.clone()));
        done.store(true, Relaxed);
        result
    });
    result.with_context(|| format!("writing {}'s history", r.name))?;
    let url = &stats.urls[0];
    let written = url.samples_sent.load(Relaxed);
    let dropped = url.dropped_total();
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{}: wrote {written} samples in {secs:.1}s ({:.0} samples/s){}",
        r.name,
        written as f64 / secs.max(1e-3),
        if dropped > 0 {
            format!(
                "; DROPPED {dropped}: {}",
                url.last_error
                    .lock()
                    .map(|e| e.clone().unwrap_or_default())
                    .unwrap_or_default()
            )
        } else {
            String::new()
        }
    );
    Ok((written, dropped))
}

/// Prints how far the rounds are, every few seconds, until `done`.
fn progress(region: &str, stats: &Stats, rounds: u64, done: &AtomicBool) {
    let mut last = Instant::now();
    while !done.load(Relaxed) {
        std::thread::sleep(Duration::from_millis(200));
        if last.elapsed() >= Duration::from_secs(5) {
            last = Instant::now();
            eprintln!(
                "{region}: {}/{rounds} rounds generated, {} samples sent",
                stats.rounds.load(Relaxed),
                stats.urls[0].samples_sent.load(Relaxed)
            );
        }
    }
}

/// A Unix second as RFC 3339 (UTC).
fn rfc3339(secs: u64) -> String {
    humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + Duration::from_secs(secs)).to_string()
}
