//! The lab's write ceiling: remote-write load pushed straight into the storage's write path,
//! ramped step by step until write latency or errors cross a stated limit.
//!
//! Each step pushes mock-exporter's series (the same generator as `mock-exporter push`) to every
//! vminsert (or the single node) for a hold period. The fleet is split between them: the stream
//! to the i-th vminsert carries hosts i·N to (i+1)·N − 1, so each vminsert gets its own series,
//! as two halves of one larger fleet, and nothing is generated twice. The storage's own counters
//! (`vm_rows_added_to_storage_total`, from before the first push to after the storage flushed
//! the last) say what was stored; over the second half of the hold each component's CPU and
//! resident memory are read from /proc through the PIDs the lab's state lists. The first step that crosses a limit ends the ramp; the one before it is the ceiling.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde::Serialize;

use crate::exporter::fleet::{FleetOptions, Model};
use crate::exporter::push::{self, stats::Stats, Protocol};
use crate::lab::endpoints::Endpoint;
use crate::lab::procstat::{cpu_ticks, rss_kib, ticks_per_second};
use crate::lab::query::Client;
use crate::lab::supervise::LabState;
use crate::lab::topology::Topology;
use crate::lab::victoria::Storage;

/// What to ramp and when to stop.
#[derive(Debug, Clone)]
pub struct Ramp {
    /// Hosts of 911 series each in the first step; each next step multiplies them by `factor`.
    pub start_scale: u32,
    pub factor: f64,
    pub max_steps: usize,
    /// How long each step pushes; figures are read over its second half.
    pub hold: Duration,
    /// One round of every series per interval, per stream.
    pub interval_secs: u64,
    /// A step whose write p99 exceeds this is over the ceiling.
    pub p99_limit: Duration,
    /// A step that stores less than this share of what it sent is over the ceiling.
    pub stored_ratio_min: f64,
    /// Requests in flight per stream.
    pub concurrency: usize,
}

/// Where to push and what to watch.
#[derive(Debug, Clone)]
pub struct Target {
    /// (name, remote-write URL): one stream each.
    pub writers: Vec<(String, String)>,
    /// (name, /metrics endpoint) of each node that stores samples.
    pub storage: Vec<(String, Endpoint)>,
    /// Copies of each sample the storage keeps (the cluster's replication factor; 1 otherwise):
    /// its row counters count every copy.
    pub copies: u32,
}

/// One component's CPU (cores, averaged over the measured window) and resident memory.
#[derive(Debug, Clone, Serialize)]
pub struct Usage {
    pub name: String,
    pub cpu_cores: f64,
    pub rss_mib: f64,
}

/// What one step did.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// Hosts per writer.
    pub scale: u32,
    /// Series of all writers together.
    pub series: usize,
    /// Samples per second offered, all writers together.
    pub offered: f64,
    /// Seconds the push took: the hold, or longer when the generator fell behind. Every rate is
    /// over this time.
    pub push_secs: f64,
    /// Samples per second answered 2xx, per writer (name, rate).
    pub sent: Vec<(String, f64)>,
    /// Samples added to storage per second of the hold, per storage node: counted from before
    /// the first push to after the last was flushed, less what the lab's own scrapes store.
    pub stored: Vec<(String, f64)>,
    pub p99_ms: f64,
    pub retried: u64,
    pub dropped: u64,
    /// Rounds the generator produced a whole interval late; more than a tenth of them means the
    /// sender, not the lab, was the limit.
    pub rounds_late: u64,
    pub usage: Vec<Usage>,
    /// Why this step is over the ceiling, when it is.
    pub over: Option<String>,
}

impl Step {
    /// Rows per second added to storage, every copy counted.
    pub fn stored_total(&self) -> f64 {
        self.stored.iter().map(|s| s.1).sum()
    }
    /// Samples per second stored, each counted once however many copies the storage keeps.
    pub fn stored_samples(&self, copies: u32) -> f64 {
        self.stored_total() / f64::from(copies.max(1))
    }
    pub fn sent_total(&self) -> f64 {
        self.sent.iter().map(|s| s.1).sum()
    }
    /// CPU of every component of the lab together, in cores.
    pub fn lab_cpu(&self) -> f64 {
        self.usage.iter().map(|u| u.cpu_cores).sum()
    }
    /// The component using the most CPU.
    pub fn busiest(&self) -> Option<&Usage> {
        self.usage
            .iter()
            .max_by(|a, b| a.cpu_cores.total_cmp(&b.cpu_cores))
    }
}

/// Runs the ramp; `progress` hears about each step as it ends.
pub fn run(
    ramp: &Ramp,
    target: &Target,
    state: Option<&LabState>,
    mut progress: impl FnMut(&Step),
) -> anyhow::Result<Vec<Step>> {
    anyhow::ensure!(!target.writers.is_empty(), "nothing to write to");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the push runtime")?;
    // What the lab's own scrapes store, so that a step counts only what it pushed.
    let window = Window::open(target, None);
    // Several of the storage's flushes (every 1-2 s), so that the rate is not one burst.
    std::thread::sleep(
        ramp.hold
            .clamp(Duration::from_secs(6), Duration::from_secs(12)),
    );
    let (baseline, _) = window.close(target);
    let mut steps = Vec::new();
    let mut scale = f64::from(ramp.start_scale.max(1));
    for _ in 0..ramp.max_steps {
        let step = one_step(
            &runtime,
            ramp,
            target,
            state,
            scale.round() as u32,
            &baseline,
        )?;
        progress(&step);
        let over = step.over.is_some();
        steps.push(step);
        if over {
            break;
        }
        scale *= ramp.factor.max(1.01);
    }
    Ok(steps)
}

fn one_step(
    runtime: &tokio::runtime::Runtime,
    ramp: &Ramp,
    target: &Target,
    state: Option<&LabState>,
    scale: u32,
    baseline: &[(String, f64)],
) -> anyhow::Result<Step> {
    // Rows stored over the whole step, from before the first push to after the storage flushed
    // the last: a short window would see the storage's buffers, not its throughput.
    let rows = Window::open(target, None);
    let model = |i: usize| {
        Model::new(FleetOptions {
            scale: scale as usize,
            first_host: i * scale as usize,
            ..FleetOptions::default()
        })
    };
    let series: usize = (0..target.writers.len())
        .map(|i| model(i).series_count())
        .sum();
    let pushing = Instant::now();
    let start = push::unix_now() + 1;
    let stats: Vec<Arc<Stats>> = target
        .writers
        .iter()
        .map(|(_, url)| Arc::new(Stats::new(std::slice::from_ref(url))))
        .collect();
    let mut handles = Vec::new();
    for (i, ((_, url), st)) in target.writers.iter().zip(&stats).enumerate() {
        let cfg = push::Config {
            urls: vec![url.parse().with_context(|| format!("{url}: not a URL"))?],
            // Remote write 1.0: what every receiver here stores (docs/compatibility.md).
            protocol: Protocol::V1,
            interval_secs: ramp.interval_secs.max(1),
            duration: ramp.hold,
            start,
            backdate_ms: 0,
            concurrency: ramp.concurrency.max(1),
            batch_size: 2000,
            retry_on_429: true,
            drain: Duration::from_secs(5),
            page: push::Page::default(),
        };
        handles.push(runtime.spawn(push::run(model(i), cfg, st.clone())));
    }
    // Measure over the second half of the hold, once the storage has settled on the new rate.
    std::thread::sleep(ramp.hold / 2 + Duration::from_secs(1));
    let window = Window::open(target, state);
    std::thread::sleep(ramp.hold / 2);
    let (_, usage) = window.close(target);
    for h in handles {
        runtime
            .block_on(h)
            .context("a push stream stopped")?
            .context("pushing")?;
    }
    // Rounds start a second after `pushing`; a generator that fell behind took longer than the
    // hold, and its rates are over the time it really took.
    let push_secs = (pushing.elapsed().as_secs_f64() - 1.0).max(ramp.hold.as_secs_f64());
    // vminsert buffers about 0.2 s, vmstorage flushes pending rows every 1-2 s.
    std::thread::sleep(Duration::from_secs(3));
    let elapsed = rows.at.elapsed().as_secs_f64();
    let (measured, _) = rows.close(target);
    let stored = measured
        .into_iter()
        .zip(baseline)
        .map(|((name, rate), (_, idle))| (name, ((rate - idle) * elapsed / push_secs).max(0.0)))
        .collect();
    let pushed = Pushed {
        scale,
        series,
        secs: push_secs,
    };
    Ok(judge(ramp, target, &pushed, &stats, stored, usage))
}

/// What a step pushed: hosts per writer, series of all writers, and for how long.
struct Pushed {
    scale: u32,
    series: usize,
    secs: f64,
}

fn judge(
    ramp: &Ramp,
    target: &Target,
    pushed: &Pushed,
    stats: &[Arc<Stats>],
    stored: Vec<(String, f64)>,
    usage: Vec<Usage>,
) -> Step {
    let rounds = ramp
        .hold
        .as_secs()
        .div_ceil(ramp.interval_secs.max(1))
        .max(1);
    let mut p99 = Duration::ZERO;
    let (mut retried, mut dropped, mut late) = (0, 0, 0);
    let mut sent = Vec::new();
    for ((name, _), st) in target.writers.iter().zip(stats) {
        let u = &st.urls[0];
        p99 = p99.max(u.latency.quantile(0.99).unwrap_or_default());
        retried += u.samples_retried.load(Relaxed);
        dropped += u.dropped_total();
        late += st.rounds_late.load(Relaxed);
        sent.push((
            name.clone(),
            u.samples_sent.load(Relaxed) as f64 / pushed.secs,
        ));
    }
    let mut step = Step {
        scale: pushed.scale,
        series: pushed.series,
        offered: pushed.series as f64 / ramp.interval_secs.max(1) as f64,
        push_secs: pushed.secs,
        sent,
        stored,
        p99_ms: p99.as_secs_f64() * 1e3,
        retried,
        dropped,
        rounds_late: late,
        usage,
        over: None,
    };
    step.over = over(ramp, target, &step, rounds * target.writers.len() as u64);
    step
}

/// Why a step is over the ceiling, if it is; `rounds` is how many rounds all writers had.
fn over(ramp: &Ramp, target: &Target, step: &Step, rounds: u64) -> Option<String> {
    let stored = step.stored_samples(target.copies);
    if step.dropped > 0 {
        Some(format!("{} samples dropped", step.dropped))
    } else if step.p99_ms > ramp.p99_limit.as_secs_f64() * 1e3 {
        Some(format!(
            "write p99 {:.0} ms above {:.0} ms",
            step.p99_ms,
            ramp.p99_limit.as_secs_f64() * 1e3
        ))
    } else if stored < step.offered * ramp.stored_ratio_min {
        Some(format!(
            "stored {stored:.0}/s of {:.0}/s offered ({:.0} %)",
            step.offered,
            100.0 * stored / step.offered
        ))
    } else if step.rounds_late * 10 > rounds {
        // One late round is a hiccup (a connection set up, a page fault); a tenth is a trend.
        Some(format!(
            "the generator fell behind ({} of {rounds} rounds late; {:.0} s instead of {} s): the sender, sharing these cores, is the limit",
            step.rounds_late,
            step.push_secs,
            ramp.hold.as_secs()
        ))
    } else {
        None
    }
}

/// Counters and CPU times at the start of the measured window.
struct Window {
    at: Instant,
    rows: Vec<f64>,
    cpu: Vec<(String, u32, u64)>,
}

impl Window {
    fn open(target: &Target, state: Option<&LabState>) -> Window {
        let cpu = state
            .map(|s| {
                s.components
                    .iter()
                    .filter_map(|c| c.pid.map(|p| (c.name.clone(), p, cpu_ticks(p))))
                    .collect()
            })
            .unwrap_or_default();
        Window {
            at: Instant::now(),
            rows: target.storage.iter().map(|(_, e)| rows_added(e)).collect(),
            cpu,
        }
    }

    fn close(self, target: &Target) -> (Vec<(String, f64)>, Vec<Usage>) {
        let secs = self.at.elapsed().as_secs_f64();
        let stored = target
            .storage
            .iter()
            .zip(&self.rows)
            .map(|((name, e), before)| (name.clone(), (rows_added(e) - before).max(0.0) / secs))
            .collect();
        let tick = ticks_per_second();
        let usage = self
            .cpu
            .iter()
            .map(|(name, pid, before)| Usage {
                name: name.clone(),
                cpu_cores: cpu_ticks(*pid).saturating_sub(*before) as f64 / tick / secs,
                rss_mib: rss_kib(*pid) as f64 / 1024.0,
            })
            .collect();
        (stored, usage)
    }
}

/// The nodes of `storage` that store samples, each with its /metrics endpoint: the vmstorages,
/// or the single node.
pub fn storage_nodes(t: &Topology, storage: Storage) -> Vec<(String, Endpoint)> {
    match storage {
        Storage::Cluster => t
            .vmstorage
            .iter()
            .map(|s| (s.name.clone(), Endpoint::new(t.http_url(s.http_port, ""))))
            .collect(),
        Storage::Single => vec![(
            "victoria-metrics".into(),
            Endpoint::new(t.http_url(t.single.port, "")),
        )],
    }
}

/// `vm_rows_added_to_storage_total` of a storage node (0 when it cannot be read).
pub fn rows_added(e: &Endpoint) -> f64 {
    Client::new()
        .metrics(e)
        .map(|page| {
            page.iter()
                .filter(|s| s.name == "vm_rows_added_to_storage_total")
                .map(|s| s.value)
                .sum()
        })
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp() -> Ramp {
        Ramp {
            start_scale: 1,
            factor: 2.0,
            max_steps: 3,
            hold: Duration::from_secs(10),
            interval_secs: 1,
            p99_limit: Duration::from_millis(500),
            stored_ratio_min: 0.9,
            concurrency: 1,
        }
    }

    fn target(copies: u32) -> Target {
        Target {
            writers: vec![("vminsert-1".into(), "http://x/api/v1/write".into())],
            storage: vec![("vmstorage-1".into(), Endpoint::new("http://x"))],
            copies,
        }
    }

    #[test]
    fn judge_calls_a_step_storing_less_than_offered_over_the_ceiling() {
        let stats = vec![Arc::new(Stats::new(&["http://x/api/v1/write".into()]))];
        stats[0].urls[0].samples_sent.store(10_000, Relaxed);
        let pushed = Pushed {
            scale: 1,
            series: 1000,
            secs: 10.0,
        };
        let at = |copies, rows: f64| {
            judge(
                &ramp(),
                &target(copies),
                &pushed,
                &stats,
                vec![("vmstorage-1".into(), rows)],
                vec![],
            )
        };
        assert_eq!(at(1, 1000.0).over, None);
        assert_eq!(
            at(1, 500.0).over.as_deref(),
            Some("stored 500/s of 1000/s offered (50 %)")
        );
        // Two copies of each sample: 1000 rows/s are 500 samples/s.
        assert_eq!(
            at(2, 1000.0).over.as_deref(),
            Some("stored 500/s of 1000/s offered (50 %)")
        );
    }

    #[test]
    fn judge_divides_by_the_time_the_push_really_took() {
        let stats = vec![Arc::new(Stats::new(&["http://x/api/v1/write".into()]))];
        stats[0].urls[0].samples_sent.store(10_000, Relaxed);
        let slow = Pushed {
            scale: 1,
            series: 1000,
            secs: 20.0,
        };
        let step = judge(&ramp(), &target(1), &slow, &stats, vec![], vec![]);
        assert_eq!(step.sent[0].1, 500.0);
    }
}
