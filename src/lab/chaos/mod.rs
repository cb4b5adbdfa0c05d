//! `labctl chaos`: break one part of a running lab under its normal load, put it back, and
//! count exactly what survived, per region and per write path.
//!
//! Each run goes baseline → inject → hold for the duration → restore → wait (bounded) until
//! the queues drain → count:
//!
//! - [`scenarios`]: what each scenario breaks on this lab and what it promises.
//! - [`watch`]: queues, the newest sample's age per path and the scenario's probe, polled
//!   while the fault lasts and while it drains.
//! - [`alerting`]: the alerts the scenario must raise and clear, and when they did;
//! - [`count`]: the exact counts, each path against a witness the fault does not touch (the
//!   method is in docs/reliability.md).
//! - [`report`]: rows, promise terms, verdict; table and JSON.
//!
//! Components are acted on through [`Control`] only (native supervisor or systemd), so the
//! same run works natively and in the NixOS VMs. Whatever was stopped or paused is put back
//! when the run ends, fails or is interrupted ([`Faults`]).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{bail, Context as _};

use crate::lab::control::Control;
use crate::lab::endpoints::Endpoints;
use crate::lab::query::Client;
use crate::lab::supervise::Action;
use crate::lab::topology::Topology;
use crate::lab::verify::delays::Budget;
use crate::lab::verify::Clock;

pub mod alerting;
pub mod count;
pub mod report;
pub mod scenarios;
pub mod watch;

use count::Segment;
use report::{PathRow, Report, Term};
use scenarios::{Plan, Scenario};
use watch::{Watch, WRITER_RECEIVER, WRITER_VM};

/// How long to hold the fault and how long to wait for the drain.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub duration: Duration,
    pub drain_timeout: Duration,
    /// How long to wait past the drain for the alerts the fault raised to resolve.
    pub alert_timeout: Duration,
}

/// The running lab, as a chaos run sees it.
pub struct Lab<'a> {
    pub topology: &'a Topology,
    pub endpoints: &'a Endpoints,
    pub client: &'a Client,
    pub control: &'a dyn Control,
    /// Set by Ctrl-C: the run restores and stops.
    pub interrupted: &'a AtomicBool,
    /// Progress lines for people.
    pub log: &'a dyn Fn(&str),
}

impl Lab<'_> {
    fn now(&self) -> f64 {
        Clock::System.now()
    }

    /// Sleeps until Unix time `t`, or fails at once when interrupted.
    fn sleep_until(&self, t: f64) -> anyhow::Result<()> {
        loop {
            if self.interrupted.load(Ordering::Relaxed) {
                bail!("interrupted");
            }
            let left = t - self.now();
            if left <= 0.0 {
                return Ok(());
            }
            std::thread::sleep(Duration::from_secs_f64(left.min(0.1)));
        }
    }
}

/// What was stopped or paused, undone in reverse order by [`Faults::restore`] or on drop.
pub struct Faults<'a> {
    control: &'a dyn Control,
    undo: Vec<(String, Action)>,
    log: &'a dyn Fn(&str),
}

impl<'a> Faults<'a> {
    pub fn new(control: &'a dyn Control, log: &'a dyn Fn(&str)) -> Faults<'a> {
        Faults {
            control,
            undo: Vec::new(),
            log,
        }
    }

    /// Does `action` to `name`, remembering how to undo it.
    pub fn inject(&mut self, name: &str, action: Action) -> anyhow::Result<()> {
        let done = self.control.act(name, action)?;
        (self.log)(&done);
        self.undo.push((name.to_string(), scenarios::undo(action)));
        Ok(())
    }

    /// Undoes every fault, last first; all are tried, the first error is returned.
    pub fn restore(&mut self) -> anyhow::Result<()> {
        let mut first = None;
        while let Some((name, action)) = self.undo.pop() {
            match self.control.act(&name, action) {
                Ok(done) => (self.log)(&done),
                Err(e) => {
                    let e = e.context(format!("restoring {name}"));
                    (self.log)(&format!("{e:#}"));
                    first.get_or_insert(e);
                }
            }
        }
        first.map_or(Ok(()), Err)
    }
}

impl Drop for Faults<'_> {
    fn drop(&mut self) {
        if !self.undo.is_empty() {
            (self.log)("restoring what the scenario broke");
            let _ = self.restore();
        }
    }
}

/// Runs one scenario on the lab; a scenario that does not apply is a skipped report.
pub fn run(s: &Scenario, lab: &Lab, opts: Options) -> anyhow::Result<Report> {
    let e = lab.endpoints;
    let storage = e.storage.as_str().to_string();
    let plan = match scenarios::plan(s, lab.topology, e.storage) {
        Ok(p) => p,
        Err(why) => return Ok(Report::skipped(s, storage, lab.control.kind(), why)),
    };
    (lab.log)(&format!("{}: {}", s.name, plan.note));
    let mut witness = baseline(lab)?;
    let w0 = lab.now();
    let mut watch = Watch::new(e, plan.probe.clone());
    let mut faults = Faults::new(lab.control, lab.log);
    for (name, action) in &plan.faults {
        faults.inject(name, *action)?;
    }
    let injected = lab.now();
    watch.alerts = alerting::AlertWatch::new(s.alerts, injected);
    hold(
        lab,
        &mut watch,
        injected + opts.duration.as_secs_f64(),
        None,
    )?;
    if let Some(agent) = &plan.kill {
        kill_and_start(lab, &mut watch, &plan, agent, &mut witness)?;
    }
    faults.restore()?;
    let restored = lab.now();
    (lab.log)("restored; waiting for the queues to drain");
    let deadline = restored + opts.drain_timeout.as_secs_f64();
    while !watch.drained() && lab.now() < deadline {
        hold(lab, &mut watch, lab.now() + 1.0, Some(restored))?;
    }
    // An alert the fault raised must also clear; rate windows keep some raised for a minute or
    // more after the data path is back.
    if !watch.alerts.cleared() {
        (lab.log)("drained; waiting for the alerts the fault raised to resolve");
        let deadline = lab.now() + opts.alert_timeout.as_secs_f64();
        while !watch.alerts.cleared() && lab.now() < deadline {
            hold(lab, &mut watch, lab.now() + 1.0, Some(restored))?;
        }
    }
    close_segments(lab, &mut witness)?;
    let w1 = lab.now();
    // Everything scraped before w1 is stored once the slowest path's budget has passed.
    let settle = Budget::region_freshness(e.storage, e.scrape_interval)
        .total()
        .max(Budget::writer_arrival(e.storage).total());
    lab.sleep_until(w1 + settle.as_secs_f64())?;
    let mut report = Report::skipped(s, storage, lab.control.kind(), String::new());
    report.notes.clear();
    report.duration_s = restored - injected;
    report.paths = count_paths(lab, &witness, &watch, (w0, w1))?;
    report.probe = watch.seen.clone();
    report.alerts = watch.alerts.seen.clone();
    report.terms = terms(s, &plan, &report, lab.topology);
    if let (Some(q), Some(row)) = (
        witness.kill_queues,
        plan.routed.first().and_then(|k| report.row(k)),
    ) {
        let window = witness.window[&row.path];
        let term = kill_term(row, q, window.1 - window.0, e.scrape_interval.as_secs_f64());
        report.terms.push(term);
    }
    report.notes.extend(notes(&watch, &plan, opts));
    report.plan = Some(plan);
    report.decide();
    Ok(report)
}

/// Per region: the counter segments of its vmagent, and when its scrapes happen.
pub struct Witness {
    segments: BTreeMap<String, Vec<Segment>>,
    /// A scrape timestamp per region (Unix s), from the newest stored sample.
    phase: BTreeMap<String, f64>,
    /// Window ends per region: the first and last counter readings (Unix s).
    window: BTreeMap<String, (f64, f64)>,
    /// vmagent-kill: the killed vmagent's remote-write queues (`vmagent_remotewrite_queues`).
    kill_queues: Option<f64>,
}

/// Learns each region's scrape phase and reads every vmagent's counter half an interval away
/// from its scrapes.
fn baseline(lab: &Lab) -> anyhow::Result<Witness> {
    let phase = phases(lab)?;
    let mut w = Witness {
        segments: BTreeMap::new(),
        phase,
        window: BTreeMap::new(),
        kill_queues: None,
    };
    let regions: Vec<String> = lab
        .endpoints
        .regions
        .iter()
        .map(|r| r.name.clone())
        .collect();
    for (region, at, value) in read_counters(lab, &w.phase, &regions)? {
        w.segments.insert(
            region.clone(),
            vec![Segment {
                from: value,
                to: value,
            }],
        );
        w.window.insert(region, (at, at));
    }
    Ok(w)
}

/// The newest stored scrape of each region; every region must have one.
fn phases(lab: &Lab) -> anyhow::Result<BTreeMap<String, f64>> {
    let e = lab.endpoints;
    let start = format!("{}", (lab.now() - 120.0).floor());
    let match_ = "node_memory_MemTotal_bytes{job=\"mock-exporter\",region!=\"\"}".to_string();
    let exported = lab
        .client
        .export(&e.query, &[("match[]", match_), ("start", start)])
        .context("reading the lab's newest samples (is the lab running and green? `labctl verify --wait 60s`)")?;
    let mut phase = BTreeMap::new();
    for s in &exported {
        if let (Some(r), Some(t)) = (s.metric.get("region"), s.newest()) {
            let p = phase.entry(r.clone()).or_insert(t);
            *p = f64::max(*p, t);
        }
    }
    let missing: Vec<&str> = e
        .regions
        .iter()
        .filter(|r| !phase.contains_key(&r.name))
        .map(|r| r.name.as_str())
        .collect();
    if !missing.is_empty() {
        bail!(
            "no recent samples of {} in VictoriaMetrics: the lab must be green before a scenario (`labctl verify --wait 60s`)",
            missing.join(", ")
        );
    }
    Ok(phase)
}

/// Reads the scraped-samples counter of each region's vmagent at its mid-phase instant, in the
/// order those instants come: (region, when, value).
fn read_counters(
    lab: &Lab,
    phase: &BTreeMap<String, f64>,
    regions: &[String],
) -> anyhow::Result<Vec<(String, f64, f64)>> {
    let interval = lab.endpoints.scrape_interval.as_secs_f64();
    let now = lab.now();
    let mut order: Vec<(f64, &String)> = regions
        .iter()
        .map(|r| {
            (
                count::mid_phase(now, phase.get(r).copied().unwrap_or(now), interval),
                r,
            )
        })
        .collect();
    order.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut out = Vec::new();
    for (at, region) in order {
        lab.sleep_until(at)?;
        let agent = &lab
            .endpoints
            .regions
            .iter()
            .find(|r| &r.name == region)
            .expect("known region")
            .vmagent;
        let page = lab
            .client
            .metrics(agent)
            .with_context(|| format!("reading the vmagent of {region}"))?;
        let value = count::scraped_samples(&page).with_context(|| {
            format!("the vmagent of {region} has no vm_promscrape_scraped_samples_sum")
        })?;
        out.push((region.clone(), lab.now(), value));
    }
    Ok(out)
}

/// Polls the lab about once a second until Unix time `until`.
fn hold(lab: &Lab, watch: &mut Watch, until: f64, restored: Option<f64>) -> anyhow::Result<()> {
    loop {
        let t0 = lab.now();
        watch.poll(lab.endpoints, lab.client, t0, restored);
        if t0 >= until {
            return Ok(());
        }
        lab.sleep_until((t0 + 1.0).min(until))?;
        if lab.now() >= until {
            return Ok(());
        }
    }
}

/// vmagent-kill: waits (bounded) until the agent's queue holds data, reads its counter, kills
/// it, starts it again (its counter starts from 0).
fn kill_and_start(
    lab: &Lab,
    watch: &mut Watch,
    plan: &Plan,
    agent: &str,
    witness: &mut Witness,
) -> anyhow::Result<()> {
    let region = plan
        .routed
        .first()
        .context("vmagent-kill routes no region")?
        .clone();
    let deadline = lab.now() + 30.0;
    while watch.paths[&region].queue_now.is_none_or(|q| q <= 0.0) {
        if lab.now() > deadline {
            bail!("the queue of {agent} stayed empty for 30 s with its remote down");
        }
        hold(lab, watch, lab.now() + 1.0, None)?;
    }
    let (_, _, value) =
        read_counters(lab, &witness.phase, std::slice::from_ref(&region))?.remove(0);
    let done = lab.control.act(agent, Action::Kill)?;
    (lab.log)(&format!(
        "{done} (queue {:.0} bytes)",
        watch.paths[&region].queue_now.unwrap_or(0.0)
    ));
    if let Some(last) = witness.segments.get_mut(&region).and_then(|s| s.last_mut()) {
        last.to = value;
    }
    let done = lab.control.act(agent, Action::Start)?;
    (lab.log)(&done);
    witness
        .segments
        .get_mut(&region)
        .expect("baseline region")
        .push(Segment { from: 0.0, to: 0.0 });
    Ok(())
}

/// Reads every counter once more (phases learned again: a restarted vmagent may have moved).
fn close_segments(lab: &Lab, witness: &mut Witness) -> anyhow::Result<()> {
    witness.phase = phases(lab)?;
    let regions: Vec<String> = witness.segments.keys().cloned().collect();
    for (region, at, value) in read_counters(lab, &witness.phase, &regions)? {
        if let Some(last) = witness.segments.get_mut(&region).and_then(|s| s.last_mut()) {
            last.to = value;
        }
        if let Some(w) = witness.window.get_mut(&region) {
            w.1 = at;
        }
    }
    Ok(())
}

fn ms(t: f64) -> i64 {
    (t * 1000.0).round() as i64
}

/// Every path's row: regions against their vmagent's counter, the writer's paths against its
/// TSDB.
fn count_paths(
    lab: &Lab,
    witness: &Witness,
    watch: &Watch,
    (w0, w1): (f64, f64),
) -> anyhow::Result<Vec<PathRow>> {
    let e = lab.endpoints;
    let mut rows = Vec::new();
    for r in &e.regions {
        let (from, to) = witness.window[&r.name];
        let selector = format!("{{job=\"mock-exporter\",region=\"{}\"}}", r.name);
        let exported = lab
            .client
            .export(&e.query, &window_params(selector, from, to))
            .with_context(|| format!("exporting {}'s samples", r.name))?;
        let tally = count::tally(&exported, ms(from), ms(to), |l| {
            !count::is_scraper_series(l.get("__name__").map(String::as_str).unwrap_or(""))
        });
        let segments = &witness.segments[&r.name];
        let expected = count::witnessed(segments);
        rows.push(row(
            &r.name,
            count::region(expected, tally),
            watch,
            "bytes",
            format!(
                "vmagent vm_promscrape_scraped_samples_sum, {} segment(s)",
                segments.len()
            ),
        ));
    }
    let writer = writer_samples(lab, (w0, w1))?;
    let added = ["cluster", "environment"];
    let selector = format!("{{job=\"mock-exporter\",cluster=\"{}\"}}", e.writer_cluster);
    let vm = lab
        .client
        .export(&e.query, &window_params(selector.clone(), w0, w1))
        .context("exporting the writer's samples from VictoriaMetrics")?;
    let vm = count::from_export(&vm, &added, ms(w0), ms(w1));
    let rx = range(lab, &e.receiver, &selector, (w0, w1))
        .context("reading the writer's samples from the receiver")?;
    let rx = count::from_matrix(&rx, &added, ms(w0), ms(w1));
    for (path, store) in [(WRITER_VM, vm), (WRITER_RECEIVER, rx)] {
        let c = count::compare(&writer, &store);
        rows.push(row(
            path,
            c,
            watch,
            "samples",
            "the writer's own TSDB, sample by sample".into(),
        ));
    }
    Ok(rows)
}

fn row(
    path: &str,
    count: count::Comparison,
    watch: &Watch,
    unit: &'static str,
    witness: String,
) -> PathRow {
    let w = watch.paths.get(path).cloned().unwrap_or_default();
    PathRow {
        path: path.to_string(),
        count,
        largest_delay_s: w.largest_delay,
        queue_peak: w.queue_peak,
        queue_unit: unit,
        drain_s: w.drained_after,
        witness,
    }
}

/// `match[]`, and `start`/`end` one second wider than the window (filtered exactly later).
fn window_params(selector: String, from: f64, to: f64) -> Vec<(&'static str, String)> {
    vec![
        ("match[]", selector),
        ("start", format!("{:.3}", from - 1.0)),
        ("end", format!("{:.3}", to + 1.0)),
    ]
}

/// The raw samples of `selector` in a Prometheus over the window (a range selector).
fn range(
    lab: &Lab,
    store: &crate::lab::endpoints::Endpoint,
    selector: &str,
    (w0, w1): (f64, f64),
) -> anyhow::Result<Vec<crate::lab::query::RangeSeries>> {
    let span = ms(w1) - ms(w0) + 2000;
    let q = format!("{selector}[{span}ms]");
    let data = lab
        .client
        .query(store, &[("query", q), ("time", format!("{:.3}", w1 + 1.0))])?;
    Ok(data.matrix())
}

/// What the writer scraped in the window, from its own TSDB.
fn writer_samples(lab: &Lab, window: (f64, f64)) -> anyhow::Result<count::SampleSet> {
    let m = range(
        lab,
        &lab.endpoints.writer,
        "{job=\"mock-exporter\"}",
        window,
    )
    .context("reading the writer's own samples (its TSDB is the witness of its paths)")?;
    Ok(count::from_matrix(&m, &[], ms(window.0), ms(window.1)))
}

/// The promise's terms for this run.
fn terms(s: &Scenario, plan: &Plan, r: &Report, t: &Topology) -> Vec<Term> {
    if s.promise.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::new();
    let killed = plan.kill.as_ref().and(plan.routed.first());
    for row in &r.paths {
        if Some(&row.path) == killed {
            continue;
        }
        out.push(Term {
            what: format!(
                "{}: 0 lost ({} lost of {})",
                row.path, row.count.lost, row.count.expected
            ),
            held: row.count.lost == 0 && row.count.expected > 0,
        });
    }
    match s.name {
        "vminsert-down" => {
            for region in &plan.routed {
                let peak = r.row(region).map_or(0.0, |x| x.queue_peak);
                out.push(Term {
                    what: format!("{region}: its vmagent buffered (queue peak {peak:.0} bytes)"),
                    held: peak > 0.0,
                });
            }
        }
        "vmstorage-down" if t.replication_factor >= 2 => out.push(Term {
            what: format!(
                "no partial answer with replication_factor {} ({} partial)",
                t.replication_factor, r.probe.queries_partial
            ),
            held: r.probe.queries_partial == 0 && r.probe.queries_complete > 0,
        }),
        "vmselect-down" => out.push(Term {
            what: format!(
                "0 failed queries through vmauth ({} failed, {} complete)",
                r.probe.queries_failed, r.probe.queries_complete
            ),
            held: r.probe.queries_failed == 0 && r.probe.queries_complete > 0,
        }),
        "vmagent-pause" => out.push(Term {
            what: "verify check 3 named the paused region as stale while it lasted".into(),
            held: r.probe.stale_caught.is_some(),
        }),
        _ => {}
    }
    out
}

/// The bound on what a SIGKILLed vmagent loses: the in-memory part of its queue, one block in
/// flight per queue worker plus rows being batched and the last second of file writes (about 2
/// s): `queues + ceil(2 s / interval)` scrapes' worth of samples.
pub fn kill_bound(expected: u64, queues: f64, window: f64, interval: f64) -> u64 {
    let scrapes = (window / interval).round().max(1.0);
    let per_scrape = expected as f64 / scrapes;
    let blocks = queues + (2.0 / interval).ceil();
    (blocks * per_scrape).round() as u64
}

fn kill_term(row: &PathRow, queues: f64, window: f64, interval: f64) -> Term {
    let bound = kill_bound(row.count.expected, queues, window, interval);
    Term {
        what: format!(
            "{}: lost {} of {} samples to the SIGKILL, at most {bound} ({queues} queues' blocks in flight + about 2 s in memory)",
            row.path, row.count.lost, row.count.expected
        ),
        held: row.count.lost <= bound && row.count.stored > 0,
    }
}

fn notes(watch: &Watch, plan: &Plan, opts: Options) -> Vec<String> {
    let mut out = Vec::new();
    for (path, w) in &watch.paths {
        if w.drained_after.is_none() {
            out.push(format!(
                "{path} had not drained {}s after restore",
                opts.drain_timeout.as_secs()
            ));
        }
    }
    out.extend(watch.alerts.seen.iter().map(alerting::AlertSeen::note));
    if let Some(agent) = &plan.kill {
        out.push(format!(
            "{agent}'s loss is what its queue held in memory at the SIGKILL; the rest was on disk and arrived"
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kill_bound_counts_a_block_per_queue_and_two_seconds_in_memory() {
        // 13 scrapes of 911 samples at 2 s, 4 queues: 4 + 1 scrapes' worth.
        assert_eq!(kill_bound(11843, 4.0, 26.0, 2.0), 5 * 911);
        // At 15 s one more scrape covers the 2 s.
        assert_eq!(kill_bound(9110, 4.0, 150.0, 15.0), 5 * 911);
    }
}
