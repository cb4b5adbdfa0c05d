//! The five hops of [`super::explain`], one function each, in path order ([`HOPS`]).
//!
//! Each reads the lab through [`Lab`] only (HTTP through its [`crate::lab::query::Client`]), so
//! the tests below answer from recorded bodies. A hop returns a [`Hop`] with its evidence; what
//! later hops need (the matching page series, the senders that carry them, the raw samples the
//! storage holds) goes into [`State`].

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::Deserialize;

use super::selector::{closest, show};
use super::{Backend, Hop, Lab};
use crate::lab::endpoints::Endpoint;
use crate::lab::query::{Exported, Labels, QueryData};
use crate::lab::render::ADDED_LABELS;
use crate::lab::topology::RECEIVER;
use crate::lab::victoria::{Storage, CLUSTER_SELECT_PREFIX};
use crate::scrape::{self, Series};

/// A hop: the lab, the backend, what earlier hops learnt.
pub type HopFn = fn(&Lab, Backend, &mut State) -> anyhow::Result<Hop>;

/// The hops in path order.
pub const HOPS: [HopFn; 5] = [exporter, scrapers, write_path, storage, query];

/// Their names, in the same order.
pub const NAMES: [&str; 5] = ["exporter", "scrapers", "write path", "storage", "query"];

/// How far back an instant query looks for a sample (Prometheus' default lookback).
pub const LOOKBACK: Duration = Duration::from_secs(300);

/// What a hop learns for the hops after it.
#[derive(Debug, Default)]
pub struct State {
    /// The exporter's series that the selector accepts on the page's own labels.
    page: Vec<Series>,
    /// The series is one each scraper makes (`up`, `scrape_*`), not the exporter's.
    scraper_made: bool,
    /// The senders that carry the selector to this backend.
    senders: Vec<Sender>,
    /// The raw samples the storage holds in the window before `--at`.
    raw: Option<Raw>,
    /// `-search.latencyOffset` of the storage's query side, and where it was read.
    offset: Option<(Duration, String)>,
}

/// A scraper that remote-writes: a region's vmagent or the Prometheus writer.
#[derive(Debug, Clone)]
pub struct Sender {
    pub name: String,
    pub endpoint: Endpoint,
    /// The labels it adds to every series (external labels).
    pub external: Labels,
    /// The remote-write URL lab.toml gives it for this backend.
    pub url: String,
    pub vmagent: bool,
    /// One stored series of the selector, as this sender writes it.
    pub example: Option<Labels>,
}

/// Raw samples in a window: how many series, the oldest and the newest time (Unix seconds).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Raw {
    pub series: usize,
    pub oldest: f64,
    pub newest: f64,
}

impl Raw {
    fn of(times: impl IntoIterator<Item = (usize, f64)>) -> Option<Raw> {
        let mut seen = BTreeSet::new();
        let (mut oldest, mut newest) = (f64::INFINITY, f64::NEG_INFINITY);
        for (series, t) in times {
            seen.insert(series);
            oldest = oldest.min(t);
            newest = newest.max(t);
        }
        (!seen.is_empty()).then_some(Raw {
            series: seen.len(),
            oldest,
            newest,
        })
    }
}

fn scraper_made(name: &str) -> bool {
    name == "up" || name.starts_with("scrape_")
}

fn secs(d: f64) -> String {
    format!("{d:.1}s")
}

// ---------------------------------------------------------------------------------------------
// Hop 1: the exporter.

/// Hop 1: the metric is on the exporter's page with labels the selector accepts.
pub fn exporter(lab: &Lab, _: Backend, st: &mut State) -> anyhow::Result<Hop> {
    let (id, name) = (1, NAMES[0]);
    let e = &lab.endpoints.exporter;
    let sel = lab.selector;
    let page = match lab.client.text(e, "").and_then(|t| scrape::parse(&t)) {
        Ok(p) => p,
        Err(err) => {
            let fix = "start the exporter (`labctl up`) or point --exporter-url at it";
            return Ok(
                Hop::fail(id, name, "the exporter's page cannot be read", fix)
                    .with([format!("GET {}: {err:#}", e.url)]),
            );
        }
    };
    if let Some(n) = sel.name.as_deref().filter(|n| scraper_made(n)) {
        st.scraper_made = true;
        return Ok(Hop::pass(
            id,
            name,
            format!("{n} is not on the page: each scraper adds it for its target"),
        ));
    }
    let named: Vec<&Series> = page.iter().filter(|s| sel.name_matches(&s.name)).collect();
    if named.is_empty() {
        return Ok(unknown_name(lab, &page));
    }
    let own_failing = |s: &Series| {
        sel.failing(&s.labels)
            .into_iter()
            .any(|m| !ADDED_LABELS.contains(&m.name.as_str()))
    };
    st.page = named
        .iter()
        .filter(|s| !own_failing(s))
        .cloned()
        .cloned()
        .collect();
    let names: BTreeSet<&str> = named.iter().map(|s| s.name.as_str()).collect();
    let labels: BTreeSet<&str> = named
        .iter()
        .flat_map(|s| s.labels.keys().map(String::as_str))
        .collect();
    let evidence = format!(
        "GET {}: {} series of {}; their labels: {}",
        e.url,
        named.len(),
        list(&names, 4),
        if labels.is_empty() {
            "none".into()
        } else {
            list(&labels, 8)
        }
    );
    if st.page.is_empty() {
        return Ok(labels_not_served(lab, &named).with([evidence]));
    }
    let mut hop = Hop::pass(
        id,
        name,
        format!(
            "{} series on the page match the selector's own labels",
            st.page.len()
        ),
    )
    .with([evidence]);
    let added: Vec<String> = sel.on(&ADDED_LABELS).map(show).collect();
    if !added.is_empty() {
        hop.evidence.push(format!(
            "{} added by the scrapers: checked at hop 2",
            added.join(", ")
        ));
    }
    Ok(hop)
}

/// The selector's metric name is not served: the closest names that are.
fn unknown_name(lab: &Lab, page: &[Series]) -> Hop {
    let served: BTreeSet<&str> = page.iter().map(|s| s.name.as_str()).collect();
    let asked = lab
        .selector
        .name
        .clone()
        .unwrap_or_else(|| lab.selector.text.clone());
    let near = closest(&asked, served.iter().copied());
    let fix = if near.is_empty() {
        "select a metric the exporter serves (`mock-exporter --list-metrics` lists them)".into()
    } else {
        format!(
            "did you mean {}? (`mock-exporter --list-metrics` lists every family)",
            near.join(", ")
        )
    };
    Hop::fail(
        1,
        NAMES[0],
        format!("{asked} is not on the exporter's page"),
        fix,
    )
    .with([format!(
        "GET {}: {} series of {} metric names, none named {asked}",
        lab.endpoints.exporter.url,
        page.len(),
        served.len()
    )])
}

/// The name is served but a matcher on the page's own labels accepts none of its series.
fn labels_not_served(lab: &Lab, named: &[&Series]) -> Hop {
    let sel = lab.selector;
    let mut evidence = Vec::new();
    let mut fixed = Vec::new();
    for m in sel
        .matchers
        .iter()
        .filter(|m| !ADDED_LABELS.contains(&m.name.as_str()))
    {
        let values: BTreeSet<&str> = named
            .iter()
            .map(|s| s.labels.get(&m.name).map_or("", String::as_str))
            .collect();
        if values.iter().any(|v| m.is_match(v)) {
            continue;
        }
        evidence.push(format!(
            "{} matches none of the served {} values: {}",
            show(m),
            m.name,
            quoted(&values)
        ));
        fixed.push(match closest(&m.value, values.iter().copied()).first() {
            Some(v) => format!("{}=\"{v}\"", m.name),
            None => format!("drop {}", show(m)),
        });
    }
    Hop::fail(
        1,
        NAMES[0],
        "the exporter serves the metric, but not with those labels",
        format!("change the label matchers: {}", fixed.join(", ")),
    )
    .with(evidence)
}

/// Up to `n` items, comma-separated, with the count of the rest.
fn list(items: &BTreeSet<&str>, n: usize) -> String {
    let shown: Vec<String> = items.iter().take(n).map(|s| s.to_string()).collect();
    let rest = items.len().saturating_sub(n);
    match rest {
        0 => shown.join(", "),
        _ => format!("{} and {rest} more", shown.join(", ")),
    }
}

// ---------------------------------------------------------------------------------------------
// Hop 2: the scrapers.

/// A scraper's `/api/v1/targets`.
#[derive(Debug, Deserialize)]
struct Targets {
    #[serde(rename = "activeTargets", default)]
    active: Vec<Target>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Target {
    #[serde(default)]
    discovered_labels: Labels,
    #[serde(default)]
    labels: Labels,
    #[serde(default)]
    scrape_url: String,
    #[serde(default)]
    health: String,
    #[serde(default)]
    last_error: String,
}

/// The senders lab.toml has for a backend, with the remote-write URL of each.
pub fn senders(lab: &Lab, backend: Backend) -> Vec<Sender> {
    let e = lab.endpoints;
    let w = &lab.topology.prometheus.writer;
    let writer = |url: String| Sender {
        name: "prometheus-writer".into(),
        endpoint: lab.writer(),
        external: labels(&[
            ("cluster", &e.writer_cluster),
            ("environment", &e.writer_environment),
        ]),
        url,
        vmagent: false,
        example: None,
    };
    match backend {
        Backend::Vm => {
            let mut out: Vec<Sender> = e
                .regions
                .iter()
                .map(|r| Sender {
                    name: format!("vmagent-{}", r.name),
                    endpoint: r.vmagent.clone(),
                    external: labels(&[
                        ("cluster", &r.cluster),
                        ("environment", &r.environment),
                        ("region", &r.name),
                    ]),
                    url: r.remote_write_url.clone(),
                    vmagent: true,
                    example: None,
                })
                .collect();
            let to_vm = w.remote_write.iter().find(|t| *t != RECEIVER);
            out.extend(to_vm.map(|t| writer(insert_write_url(lab, t))));
            out
        }
        Backend::Receiver => w
            .remote_write
            .iter()
            .filter(|t| *t == RECEIVER)
            .map(|_| writer(e.receiver.join("/api/v1/write")))
            .collect(),
    }
}

/// The remote-write URL of a vminsert (or the single node) as the endpoints place it.
fn insert_write_url(lab: &Lab, vminsert: &str) -> String {
    let e = lab.endpoints;
    let base = match e.storage {
        Storage::Cluster => e.inserts.get(vminsert),
        Storage::Single => e.inserts.values().next(),
    };
    base.map(|b| b.join(&e.storage.write_path(e.tenant)))
        .unwrap_or_default()
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A series as a sender stores it: the page's labels, the target's (after relabelling), then
/// the sender's external labels where the series has none.
fn stored_form(page: &Series, target: &Labels, external: &Labels) -> Labels {
    let mut out = page.labels.clone();
    for (k, v) in target.iter().filter(|(k, _)| !k.starts_with("__")) {
        out.insert(k.clone(), v.clone());
    }
    for (k, v) in external {
        out.entry(k.clone()).or_insert_with(|| v.clone());
    }
    out.retain(|_, v| !v.is_empty());
    out
}

/// The exporter's target on a sender's `/api/v1/targets`.
fn exporter_target(lab: &Lab, s: &Sender) -> anyhow::Result<Target> {
    let t: Targets = lab.client.api(&s.endpoint, "/api/v1/targets", &[])?;
    let url = &lab.endpoints.exporter.url;
    t.active
        .iter()
        .find(|t| &t.scrape_url == url)
        .or(t.active.first())
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("{}: no active scrape target", s.endpoint.url))
}

/// Hop 2: which senders scrape the series and store it with labels the selector accepts.
pub fn scrapers(lab: &Lab, backend: Backend, st: &mut State) -> anyhow::Result<Hop> {
    let (id, name) = (2, NAMES[1]);
    let all = senders(lab, backend);
    if all.is_empty() {
        let fix = "the writer's remote_write in lab.toml lists no target of this backend";
        return Ok(Hop::fail(id, name, "nothing writes to this backend", fix));
    }
    let mut evidence = Vec::new();
    let mut carrying = Vec::new();
    let mut others = Vec::new();
    for mut s in all {
        let target = match exporter_target(lab, &s) {
            Ok(t) => t,
            Err(err) => {
                evidence.push(format!("{}: targets unreadable: {err:#}", s.name));
                continue;
            }
        };
        let stored: Vec<Labels> = st
            .page
            .iter()
            .map(|p| {
                let mut l = stored_form(p, &target.labels, &s.external);
                l.insert("__name__".into(), p.name.clone());
                l
            })
            .collect();
        let selected = stored.iter().find(|l| {
            let n = l.get("__name__").map_or("", String::as_str);
            lab.selector.matches(n, l)
        });
        s.example = selected.or(stored.first()).cloned();
        if st.scraper_made || selected.is_some() {
            carrying.push((s, target));
        } else {
            others.push((s, target));
        }
    }
    if carrying.is_empty() {
        return Ok(not_stored_as_selected(lab, backend, &others).with(evidence));
    }
    scrapers_verdict(carrying, others.len(), evidence, st)
}

/// Some senders carry the selector: their targets must be up.
fn scrapers_verdict(
    carrying: Vec<(Sender, Target)>,
    others: usize,
    mut evidence: Vec<String>,
    st: &mut State,
) -> anyhow::Result<Hop> {
    let (id, name) = (2, NAMES[1]);
    let mut down = Vec::new();
    for (s, t) in &carrying {
        let example = s.example.as_ref().map(series_text).unwrap_or_default();
        evidence.push(format!(
            "{}: target {} {}{}; stored as {example}",
            s.name,
            t.scrape_url,
            t.health,
            if t.last_error.is_empty() {
                String::new()
            } else {
                format!(" ({})", t.last_error)
            },
        ));
        if t.health != "up" {
            down.push(s.name.clone());
        }
    }
    let n = carrying.len();
    let names: Vec<String> = carrying.iter().map(|(s, _)| s.name.clone()).collect();
    st.senders = carrying.into_iter().map(|(s, _)| s).collect();
    if down.len() == n {
        let fix = "the scrapers must reach the exporter at the target URL: is it running, \
                   and is --exporter-url the address they scrape?";
        return Ok(Hop::fail(
            id,
            name,
            format!("every target is down: {}", down.join(", ")),
            fix,
        )
        .with(evidence));
    }
    let skipped = if others > 0 {
        format!(" ({others} other(s) store other label values)")
    } else {
        String::new()
    };
    Ok(Hop::pass(
        id,
        name,
        format!("{n} scraper(s) carry it: {}{skipped}", names.join(", ")),
    )
    .with(evidence))
}

/// `name{a="1",…}` of a label set holding `__name__`.
fn series_text(l: &Labels) -> String {
    let mut rest = l.clone();
    let name = rest.remove("__name__").unwrap_or_default();
    scrape::series_id(&name, &rest)
}

/// No sender stores the series with labels the selector accepts: which lab-added label
/// differs, whether the selector used its value before relabelling, and the stored form.
fn not_stored_as_selected(lab: &Lab, backend: Backend, senders: &[(Sender, Target)]) -> Hop {
    let (id, name) = (2, NAMES[1]);
    let sel = lab.selector;
    let Some(example) = senders.iter().find_map(|(s, _)| s.example.clone()) else {
        let fix = "start the scrapers (`labctl up`) or point --vmagent-url at them";
        return Hop::fail(id, name, "no scraper answered", fix);
    };
    let mut evidence = Vec::new();
    let mut replaced: BTreeMap<String, Option<String>> = BTreeMap::new();
    for m in sel.on(&ADDED_LABELS) {
        let stored: BTreeSet<&str> = senders
            .iter()
            .filter_map(|(s, _)| s.example.as_ref()?.get(&m.name).map(String::as_str))
            .collect();
        if stored.iter().any(|v| m.is_match(v)) || (stored.is_empty() && m.is_match("")) {
            continue;
        }
        let before = senders.iter().find_map(|(_, t)| {
            let v = t.discovered_labels.get(&m.name)?;
            let after = t.labels.get(&m.name)?;
            (m.is_match(v) && v != after).then(|| (v.clone(), after.clone()))
        });
        let (line, new) = match (before, stored.is_empty()) {
            (Some((v, after)), _) => (
                format!(
                    "{}=\"{v}\" is the value before relabelling (the scrape job's name on the \
                     targets page); the lab stores {}=\"{after}\" (relabel_configs: target_label {})",
                    m.name, m.name, m.name
                ),
                Some(after),
            ),
            (None, true) => (
                format!(
                    "no series written to the {} carries a {} label",
                    backend.title(),
                    m.name
                ),
                None,
            ),
            (None, false) => (
                format!(
                    "{} matches none of the stored {} values: {}",
                    show(m),
                    m.name,
                    quoted(&stored)
                ),
                closest(&m.value, stored.iter().copied()).first().map(|v| v.to_string()),
            ),
        };
        evidence.push(line);
        replaced.insert(m.name.clone(), new);
    }
    evidence.push(format!("stored form: {}", series_text(&example)));
    let fixed = rewrite(lab, &replaced);
    let mut fix = format!("select the stored form: {fixed}");
    if backend == Backend::Receiver && replaced.values().any(Option::is_none) {
        fix += " (or ask VictoriaMetrics, which the vmagents write to: --backend vm)";
    }
    Hop::fail(
        id,
        name,
        "stored with other labels than the selector asks for",
        fix,
    )
    .with(evidence)
}

/// The selector with the matchers on `replaced` labels set to the stored value (or dropped).
fn rewrite(lab: &Lab, replaced: &BTreeMap<String, Option<String>>) -> String {
    let sel = lab.selector;
    let parts: Vec<String> = sel
        .matchers
        .iter()
        .filter_map(|m| match replaced.get(&m.name) {
            Some(Some(v)) => Some(format!("{}=\"{v}\"", m.name)),
            Some(None) => None,
            None => Some(show(m)),
        })
        .collect();
    let name = sel.name.as_deref().unwrap_or("");
    match (name, parts.is_empty()) {
        ("", true) => "{}".into(),
        (n, true) => n.into(),
        (n, false) => format!("{n}{{{}}}", parts.join(",")),
    }
}

fn quoted(items: &BTreeSet<&str>) -> String {
    let q: BTreeSet<String> = items.iter().map(|v| format!("{v:?}")).collect();
    list(&q.iter().map(String::as_str).collect(), 6)
}

// ---------------------------------------------------------------------------------------------
// Hop 3: the write path.

/// What a sender's `/metrics` says about one remote-write URL.
#[derive(Debug, Default, PartialEq)]
struct Sent {
    /// URLs it actually writes to (vmagent's `url` label, Prometheus' `url`).
    urls: BTreeSet<String>,
    /// Counters by name (`2XX`, `4XX`, `samples`, `failed`, `dropped`, `pending`).
    counts: BTreeMap<String, f64>,
}

/// Reads a sender's remote-write metrics for `url`.
fn sent(page: &[Series], s: &Sender) -> Sent {
    let mut out = Sent::default();
    let strip = |u: &str| {
        u.split_once(':')
            .filter(|(n, _)| n.parse::<u32>().is_ok())
            .map_or(u, |(_, r)| r)
            .to_string()
    };
    for p in page {
        let Some(u) = p.labels.get("url").map(|u| strip(u)) else {
            continue;
        };
        let key = match p.name.as_str() {
            "vmagent_remotewrite_requests_total" => {
                p.labels.get("status_code").cloned().unwrap_or_default()
            }
            "vmagent_remotewrite_packets_dropped_total" => "dropped".into(),
            "vmagent_remotewrite_pending_data_bytes" => "pending bytes".into(),
            "prometheus_remote_storage_samples_total" => "samples".into(),
            "prometheus_remote_storage_samples_failed_total" => "failed".into(),
            "prometheus_remote_storage_samples_dropped_total" => "dropped".into(),
            "prometheus_remote_storage_samples_pending" => "pending".into(),
            _ => continue,
        };
        if p.name.starts_with("vmagent_remotewrite_requests") || p.name.ends_with("samples_total") {
            out.urls.insert(u.clone());
        }
        if u == s.url {
            *out.counts.entry(key).or_default() += p.value;
        }
    }
    out
}

/// Hop 3: each sender writes to its URL, which accepts remote write.
pub fn write_path(lab: &Lab, _: Backend, st: &mut State) -> anyhow::Result<Hop> {
    let (id, name) = (3, NAMES[2]);
    let mut evidence = Vec::new();
    let mut failures = Vec::new();
    for s in &st.senders {
        let page = lab.client.metrics(&s.endpoint).unwrap_or_default();
        let sent = sent(&page, s);
        let counts: Vec<String> = sent
            .counts
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        let elsewhere: Vec<&String> = sent.urls.iter().filter(|u| **u != s.url).collect();
        let url = if sent.urls.contains(&s.url) || elsewhere.is_empty() {
            s.url.clone()
        } else {
            elsewhere[0].clone()
        };
        let probe = lab.client.probe_write(&url);
        let answer = match &probe {
            Ok((code, text)) => format!("{code} {}", text.trim()).trim().to_string(),
            Err(e) => format!("no answer: {e:#}"),
        };
        let mut line = format!(
            "{} → {url}: {}; an empty write request now: {answer}",
            s.name,
            if counts.is_empty() {
                "no counters".into()
            } else {
                counts.join(", ")
            }
        );
        if !sent.urls.contains(&s.url) && !elsewhere.is_empty() {
            line += &format!(
                " (lab.toml routes it to {}; it writes to {})",
                s.url,
                elsewhere
                    .iter()
                    .map(|u| u.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        evidence.push(line);
        if !matches!(probe, Ok((code, _)) if (200..300).contains(&code)) {
            failures.push((s.name.clone(), url, probe));
        }
    }
    let Some((who, url, probe)) = failures.first() else {
        return Ok(Hop::pass(
            id,
            name,
            format!(
                "{} sender(s) write to URLs that accept remote write",
                st.senders.len()
            ),
        )
        .with(evidence));
    };
    Ok(write_refused(who, url, probe, lab).with(evidence))
}

/// A remote-write URL that refuses writes: why, and what to set instead.
fn write_refused(who: &str, url: &str, probe: &anyhow::Result<(u16, String)>, lab: &Lab) -> Hop {
    let e = lab.endpoints;
    let path = e.storage.write_path(e.tenant);
    let (summary, fix) = match probe {
        Ok((code, text)) if text.contains("unsupported path") || *code == 404 => (
            format!("{who} writes to a path that takes no remote write ({code}: {})", text.trim()),
            format!("remote write goes to {path} on {} (vminsert: /insert/<tenant>/prometheus/api/v1/write; single node and Prometheus: /api/v1/write); set the sender's URL (-remoteWrite.url, remote_write.url; lab.toml routes them)", if e.storage == Storage::Cluster { "a vminsert" } else { "the single node" }),
        ),
        Ok((code, text)) if (400..500).contains(code) => (
            format!("{who}'s remote-write URL answers {code}: {}", text.trim()),
            "a 4xx answer is dropped, not retried: fix the request the answer names (credentials, path, payload)".into(),
        ),
        Ok((code, text)) => (
            format!("{who}'s remote-write URL answers {code}: {}", text.trim()),
            "5xx answers are retried: the receiving side is failing, see its log (`labctl logs NAME`)".into(),
        ),
        Err(err) => (
            format!("{who}'s remote-write URL does not answer: {err:#}"),
            format!("start what listens at {url} (`labctl status`), or move it with --vminsert-url NAME=URL / --single-url / --receiver-url"),
        ),
    };
    Hop::fail(3, NAMES[2], summary, fix)
}

// ---------------------------------------------------------------------------------------------
// Hop 4: the storage.

/// Where VictoriaMetrics answers directly (not through vmauth): its name, its Prometheus API in
/// the lab's tenant, and its base URL (for `/flags`).
fn vm_store(lab: &Lab) -> anyhow::Result<(String, Endpoint, Endpoint)> {
    let e = lab.endpoints;
    let (name, base) = match e.storage {
        Storage::Cluster => e.vmselects.iter().next(),
        Storage::Single => e.inserts.iter().next(),
    }
    .ok_or_else(|| anyhow::anyhow!("lab.toml lists no vmselect"))?;
    let api = Endpoint::new(base.join(&e.storage.query_path(e.tenant)));
    Ok((name.clone(), api, base.clone()))
}

/// `-search.latencyOffset` of a vmselect or single node: from its `/flags` page (which lists
/// only the flags that were set, so a missing line means upstream's 30 s default), or lab.toml's
/// `latency_offset` when it has no such page.
pub fn latency_offset(lab: &Lab, base: &Endpoint) -> (Duration, String) {
    const FLAG: &str = "-search.latencyOffset=";
    match lab.client.text(base, "/flags") {
        Ok(page) => match page.lines().find_map(|l| l.strip_prefix(FLAG)) {
            Some(v) => match go_duration(v.trim_matches('"')) {
                Some(d) => (d, format!("{FLAG}{v} on {}/flags", base.url)),
                None => (
                    lab.topology.latency_offset,
                    format!("unreadable {FLAG}{v}: lab.toml latency_offset"),
                ),
            },
            None => (
                Duration::from_secs(30),
                format!("not set on {}/flags: upstream's default", base.url),
            ),
        },
        Err(_) => (
            lab.topology.latency_offset,
            format!(
                "lab.toml latency_offset ({}/flags did not answer)",
                base.url
            ),
        ),
    }
}

/// A Go duration as flags print it: `30s`, `1m0s`, `1.5s`, `500ms`.
pub fn go_duration(s: &str) -> Option<Duration> {
    let mut total = 0.0;
    let mut rest = s;
    if rest == "0" {
        return Some(Duration::ZERO);
    }
    while !rest.is_empty() {
        let n = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let value: f64 = rest[..n].parse().ok()?;
        rest = &rest[n..];
        let unit = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let scale = match &rest[..unit] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" => 1e-6,
            "ns" => 1e-9,
            _ => return None,
        };
        total += value * scale;
        rest = &rest[unit..];
    }
    Some(Duration::from_secs_f64(total))
}

/// Whether the series is known at `api`: how many, and whether the answer was partial; a
/// failed hop when it is not.
fn known(lab: &Lab, api: &Endpoint, who: &str, st: &State) -> Result<(usize, bool, String), Hop> {
    let (id, name) = (4, NAMES[3]);
    let params = [
        ("match[]", lab.selector.text.clone()),
        ("start", format!("{:.3}", lab.at - 86400.0)),
        ("end", format!("{:.3}", lab.at)),
    ];
    let line = format!(
        "GET {}/api/v1/series?match[]={} (the day before --at)",
        api.url, lab.selector.text
    );
    let answer = lab
        .client
        .api_answer::<Vec<Labels>>(api, "/api/v1/series", &params);
    let fix = format!("start {who} (`labctl status`), or move it with --vmselect-url / --single-url / --receiver-url");
    let a = match answer {
        Ok(a) => a,
        Err(err) => {
            return Err(Hop::fail(id, name, format!("{who} does not answer"), fix)
                .with([format!("{line}: {err:#}")]))
        }
    };
    let n = a.data.as_ref().map_or(0, Vec::len);
    let line = format!(
        "{line}: {n} series{}",
        if a.is_partial { ", partial answer" } else { "" }
    );
    if n > 0 {
        return Ok((n, a.is_partial, line));
    }
    let senders: Vec<String> = st
        .senders
        .iter()
        .map(|s| format!("{} → {}", s.name, s.url))
        .collect();
    let (summary, fix) = if a.is_partial {
        ("no series found, and the answer is partial: a vmstorage did not answer".to_string(),
         "start the missing vmstorage; with -replicationFactor=2 on vminsert and vmselect one node may be down".to_string())
    } else {
        (format!("{who} holds no such series in the day before --at"),
         "the samples were sent (hop 3) but not stored here: compare the senders' URLs (tenant, host) with the storage's; or pick an --at after the lab started".to_string())
    };
    Err(Hop::fail(id, name, summary, fix).with([line, format!("senders: {}", senders.join("; "))]))
}

/// Hop 4: the storage knows the series; its newest raw sample.
pub fn storage(lab: &Lab, backend: Backend, st: &mut State) -> anyhow::Result<Hop> {
    let (who, api, tenant) = match backend {
        Backend::Vm => {
            let (who, api, base) = vm_store(lab)?;
            st.offset = Some(latency_offset(lab, &base));
            let e = lab.endpoints;
            let tenant = match e.storage {
                Storage::Cluster => format!(
                    " in tenant {} (lab.toml tenant; writes go to {})",
                    e.tenant,
                    e.storage.write_path(e.tenant)
                ),
                Storage::Single => String::new(),
            };
            (who, api, tenant)
        }
        Backend::Receiver => (
            "prometheus-receiver".to_string(),
            lab.endpoints.receiver.clone(),
            String::new(),
        ),
    };
    let (n, partial, line) = match known(lab, &api, &who, st) {
        Ok(k) => k,
        Err(hop) => return Ok(hop),
    };
    let offset = st.offset.as_ref().map_or(Duration::ZERO, |o| o.0);
    let window = LOOKBACK + offset + Duration::from_secs(1);
    let raw = match backend {
        Backend::Vm => raw_exported(lab, &api, window),
        Backend::Receiver => raw_ranged(lab, &api),
    };
    let mut evidence = vec![line];
    let newest = match &raw {
        Ok(Some(r)) => format!("newest raw sample {} before --at", secs(lab.at - r.newest)),
        Ok(None) => format!(
            "no raw sample in the {} before --at",
            secs(window.as_secs_f64())
        ),
        Err(_) => "its raw samples cannot be read now".to_string(),
    };
    if let Err(err) = &raw {
        let err: String = format!("{err:#}").chars().take(300).collect();
        evidence.push(format!("raw samples: {err}…"));
    }
    st.raw = raw.ok().flatten();
    let partial = if partial { " (partial answer)" } else { "" };
    Ok(Hop::pass(
        4,
        NAMES[3],
        format!("{who} knows {n} series{tenant}{partial}; {newest}"),
    )
    .with(evidence))
}

/// Raw samples from VictoriaMetrics' `/api/v1/export` in `window` before `--at`.
fn raw_exported(lab: &Lab, api: &Endpoint, window: Duration) -> anyhow::Result<Option<Raw>> {
    let params = [
        ("match[]", lab.selector.text.clone()),
        ("start", format!("{:.3}", lab.at - window.as_secs_f64())),
        ("end", format!("{:.3}", lab.at)),
    ];
    let exported: Vec<Exported> = lab.client.export(api, &params)?;
    Ok(Raw::of(exported.iter().enumerate().flat_map(|(i, s)| {
        s.timestamps.iter().map(move |&ms| (i, ms as f64 / 1000.0))
    })))
}

/// Raw samples from Prometheus: the range selector `SELECTOR[5m]` at `--at`.
fn raw_ranged(lab: &Lab, api: &Endpoint) -> anyhow::Result<Option<Raw>> {
    let params = [
        (
            "query",
            format!("{}[{}s]", lab.selector.text, LOOKBACK.as_secs()),
        ),
        ("time", format!("{:.3}", lab.at)),
    ];
    let data: QueryData = lab.client.query(api, &params)?;
    Ok(Raw::of(data.matrix().iter().enumerate().flat_map(
        |(i, s)| s.values.iter().map(move |v| (i, v.time())),
    )))
}

// ---------------------------------------------------------------------------------------------
// Hop 5: the query.

/// What is wrong with a VictoriaMetrics query URL for this lab, and the URL to use instead.
pub fn query_url_problem(url: &str, storage: Storage, tenant: u32) -> Option<(String, String)> {
    let after_scheme = url.split_once("://").map_or(0, |(s, _)| s.len() + 3);
    let path_at = url[after_scheme..]
        .find('/')
        .map_or(url.len(), |i| after_scheme + i);
    let (base, path) = url.split_at(path_at);
    let right = format!("{base}{}", storage.query_path(tenant));
    let select = path.find(CLUSTER_SELECT_PREFIX);
    match (storage, select) {
        (Storage::Single, Some(_)) => Some((
            format!("{path} is a cluster path (/select/<tenant>/…); the single node has one tenant and answers at /prometheus"),
            right,
        )),
        (Storage::Cluster, Some(i)) => {
            let rest = &path[i + CLUSTER_SELECT_PREFIX.len()..];
            let asked = rest.split('/').next().unwrap_or("");
            let asked_id = asked.split(':').next().unwrap_or("");
            (asked_id != tenant.to_string()).then(|| {
                (format!("the query URL asks tenant {asked}; the lab writes tenant {tenant} (lab.toml tenant, /insert/{tenant}/…)"), right.clone())
            })
        }
        (Storage::Cluster, None) => Some((
            format!("{path:?} is not a cluster query path: vmselect answers at /select/<tenant>/prometheus (VictoriaMetrics #4085)"),
            right,
        )),
        (Storage::Single, None) => None,
    }
}

/// Hop 5: what `/api/v1/query` answers at `--at`, as a dashboard asks it.
pub fn query(lab: &Lab, backend: Backend, st: &mut State) -> anyhow::Result<Hop> {
    let id = 5;
    let e = lab.endpoints;
    let (ep, problem) = match backend {
        Backend::Vm => (
            &e.query,
            query_url_problem(&e.query.url, e.storage, e.tenant),
        ),
        Backend::Receiver => (&e.receiver, None),
    };
    let params = [
        ("query", lab.selector.text.clone()),
        ("time", format!("{:.3}", lab.at)),
    ];
    let line = format!(
        "GET {}/api/v1/query?query={}&time={:.3}",
        ep.url, lab.selector.text, lab.at
    );
    let answer = lab
        .client
        .api_answer::<QueryData>(ep, "/api/v1/query", &params);
    let a = match answer {
        Ok(a) if a.status == crate::lab::query::ApiStatus::Success => a,
        Ok(a) => {
            return Ok(query_refused(
                lab,
                problem,
                format!("{line}: {}", a.error.unwrap_or_default()),
            ))
        }
        Err(err) => {
            return Ok(query_refused(
                lab,
                problem,
                format!("{err:#}").trim().to_string(),
            ))
        }
    };
    let data = a.data.unwrap_or(QueryData::Vector(Vec::new()));
    let n = data.series();
    let first = data.vector().into_iter().next();
    let line = format!(
        "{line}: {n} series{}",
        if a.is_partial {
            ", isPartial: true"
        } else {
            ""
        }
    );
    if a.is_partial {
        return Ok(led_by(partial(lab, n), line));
    }
    if let Some(s) = first {
        let mut metric = s.metric.clone();
        let name = metric.remove("__name__").unwrap_or_default();
        let shown = format!(
            "e.g. {} = {} at {}",
            scrape::series_id(&name, &metric),
            s.value.1,
            super::time_text(s.value.time())
        );
        return Ok(Hop::pass(id, NAMES[4], format!("{n} series returned")).with([line, shown]));
    }
    Ok(led_by(empty_answer(lab, backend, st, problem), line))
}

/// `hop` with `line` as its first evidence.
fn led_by(mut hop: Hop, line: String) -> Hop {
    hop.evidence.insert(0, line);
    hop
}

/// The query URL answered an error.
fn query_refused(lab: &Lab, problem: Option<(String, String)>, line: String) -> Hop {
    let (id, name) = (5, NAMES[4]);
    match problem {
        Some((why, right)) => Hop::fail(
            id,
            name,
            why,
            format!("--query-url {right} (the Grafana datasource URL likewise)"),
        ),
        None => Hop::fail(
            id,
            name,
            "the query URL answers an error",
            format!(
                "check --query-url: the lab's is {}",
                crate::lab::render::query_url(lab.topology, lab.endpoints.storage)
            ),
        ),
    }
    .with([line])
}

/// The answer is partial: which vmstorages are down, and what keeps answers complete.
fn partial(lab: &Lab, n: usize) -> Hop {
    let e = lab.endpoints;
    let down: Vec<String> = e
        .vmstorages
        .iter()
        .filter(|(_, ep)| lab.client.text(ep, "/health").is_err())
        .map(|(n, ep)| format!("{n} ({}/health does not answer)", ep.url))
        .collect();
    let summary = format!(
        "partial answer ({n} series): vmselect could not reach every vmstorage, so series on the missing node may be absent"
    );
    let fix = "start the missing vmstorage (`labctl up` restarts it); -replicationFactor=2 on vminsert and vmselect keeps answers complete with one node down (VictoriaMetrics #4115); -search.denyPartialResponse turns partial answers into errors";
    let down = if down.is_empty() {
        "every vmstorage answers /health now".into()
    } else {
        format!("down: {}", down.join(", "))
    };
    Hop::fail(5, NAMES[4], summary, fix).with([down])
}

/// The query returned nothing although the storage knows the series: which rule hides it.
fn empty_answer(lab: &Lab, backend: Backend, st: &State, problem: Option<(String, String)>) -> Hop {
    let (id, name) = (5, NAMES[4]);
    if let Some((why, right)) = problem {
        return Hop::fail(
            id,
            name,
            why,
            format!("--query-url {right} (the Grafana datasource URL likewise)"),
        );
    }
    let at = lab.at;
    let now = lab.clock.now();
    let (offset, source) = match (backend, &st.offset) {
        (Backend::Vm, Some((d, s))) => (d.as_secs_f64(), s.clone()),
        _ => (0.0, String::new()),
    };
    let shifted = (now - at).abs() < offset;
    let evaluated = if shifted { now - offset } else { at };
    let Some(raw) = st.raw else {
        return Hop::fail(id, name, format!("no raw sample in the {} before --at: the query has nothing to return", secs(LOOKBACK.as_secs_f64())), "the series is stale: pick an --at when it was written, or see why its scraper stopped (hop 2)");
    };
    let raw_line = format!(
        "raw samples: {} series, oldest {} and newest {} before --at",
        raw.series,
        secs(at - raw.oldest),
        secs(at - raw.newest)
    );
    if shifted && raw.oldest > evaluated {
        let summary = format!(
            "every raw sample is younger than -search.latencyOffset ({}): the query is evaluated at now−{} and sees none",
            secs(offset), secs(offset)
        );
        let fix = "wait for the offset to pass, or lower it: lab.toml latency_offset (-search.latencyOffset on vmselect and the single node); a single query can pass nocache=1 or latency_offset=0s (VictoriaMetrics #5555)";
        return Hop::fail(id, name, summary, fix)
            .with([raw_line, format!("offset {}: {source}", secs(offset))]);
    }
    if raw.newest < evaluated - LOOKBACK.as_secs_f64() {
        let summary = format!(
            "stale: the newest raw sample is older than the {} lookback",
            secs(LOOKBACK.as_secs_f64())
        );
        return Hop::fail(
            id,
            name,
            summary,
            "pick an --at when it was written, or see why its scraper stopped (hop 2)",
        )
        .with([raw_line]);
    }
    Hop::fail(
        id,
        name,
        "the query returns nothing although raw samples exist before --at",
        "compare the answer of /api/v1/query with the raw samples above; a stale marker (the target went away) also ends a series",
    )
    .with([raw_line])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::endpoints::Endpoints;
    use crate::lab::explain::{walk, Mark, Selector, Walk};
    use crate::lab::query::{Client, Recorded};
    use crate::lab::topology::Topology;
    use crate::lab::verify::Clock;

    const NOW: f64 = 1_700_000_000.0;
    const PAGE: &str = "# TYPE http_requests_total counter\n\
        http_requests_total{code=\"200\",service=\"api\"} 5\n\
        http_requests_total{code=\"500\",service=\"api\"} 1\n\
        # TYPE app_queue_size gauge\napp_queue_size{queue=\"emails\"} 3\n";

    type Answers = Vec<(Vec<&'static str>, String)>;

    fn target(external: &str, extra: &str) -> String {
        format!(
            r#"{{"status":"success","data":{{"activeTargets":[{{"discoveredLabels":{{"__address__":"127.0.0.1:2112","job":"exporter"{external}}},"labels":{{"instance":"127.0.0.1:2112","job":"mock-exporter"{external}{extra}}},"scrapeUrl":"http://127.0.0.1:2112/metrics","health":"up","lastError":""}}]}}}}"#
        )
    }

    fn region_target(r: &str, cluster: &str, az: &str) -> String {
        let ext = format!(r#","region":"{r}","cluster":"{cluster}","environment":"production""#);
        target(&ext, &format!(r#","availability_zone":"{az}""#))
    }

    /// A healthy single-node lab (lab.toml's ports): every hop passes for http_requests_total.
    fn healthy() -> Answers {
        let ok = |s: &str| s.to_string();
        let sample = (NOW * 1000.0) as i64 - 2000;
        vec![
            (vec![":2112/metrics"], ok(PAGE)),
            (vec![":8429/api/v1/targets"], region_target("us-east-1", "prod-us", "us-east-1a")),
            (vec![":8430/api/v1/targets"], region_target("eu-west-1", "prod-eu", "eu-west-1b")),
            (vec![":8431/api/v1/targets"], region_target("ap-southeast-1", "prod-ap", "ap-southeast-1a")),
            (vec![":8432/api/v1/targets"], region_target("sa-east-1", "prod-sa", "sa-east-1c")),
            (vec![":9092/api/v1/targets"], target("", "")),
            (vec![":84", "/metrics"], ok("vmagent_remotewrite_requests_total{url=\"1:http://127.0.0.1:8428/api/v1/write\",status_code=\"2XX\"} 10\n")),
            (vec![":9092/metrics"], ok("prometheus_remote_storage_samples_total{remote_name=\"vminsert-1\",url=\"http://127.0.0.1:8428/api/v1/write\"} 100\n")),
            (vec!["POST http://127.0.0.1:8428/api/v1/write"], ok("204 ")),
            (vec![":8428/flags"], ok("-search.latencyOffset=\"1s\"\n")),
            (vec![":8428/prometheus/api/v1/series"], ok(r#"{"status":"success","data":[{"__name__":"http_requests_total","code":"200"}]}"#)),
            (vec![":8428/prometheus/api/v1/export"], format!(r#"{{"metric":{{"__name__":"http_requests_total"}},"values":[5],"timestamps":[{sample}]}}"#)),
            (vec![":8427/prometheus/api/v1/query"], ok(r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"http_requests_total","code":"200"},"value":[1700000000,"5"]}]}}"#)),
        ]
    }

    fn with(mut first: Answers, rest: Answers) -> Answers {
        first.extend(rest);
        first
    }

    fn run(selector: &str, storage: Storage, answers: Answers) -> Walk {
        let t = Topology::parse(include_str!("../../../lab.toml")).unwrap();
        let e = Endpoints::from_topology(&t, storage, Duration::from_secs(2));
        let client = Client::with_transport(Recorded(answers));
        let selector = Selector::parse(selector).unwrap();
        let lab = Lab {
            endpoints: &e,
            topology: &t,
            client: &client,
            selector: &selector,
            at: NOW,
            clock: Clock::Fixed(NOW),
        };
        walk(&lab, Backend::Vm)
    }

    fn last(w: &Walk) -> &Hop {
        w.hops.last().unwrap()
    }

    #[test]
    fn walk_passes_every_hop_of_a_visible_series() {
        let w = run(
            r#"http_requests_total{region="eu-west-1"}"#,
            Storage::Single,
            healthy(),
        );
        assert!(w.visible, "{:#?}", w.hops);
        assert_eq!(w.hops.len(), 5);
        assert!(
            w.hops[1].summary.contains("vmagent-eu-west-1"),
            "{:?}",
            w.hops[1]
        );
        assert!(
            w.hops[3].summary.contains("2.0s before --at"),
            "{:?}",
            w.hops[3]
        );
    }

    #[test]
    fn exporter_names_the_closest_served_metric() {
        let w = run("http_request_total", Storage::Single, healthy());
        let h = last(&w);
        assert_eq!((h.id, h.mark), (1, Mark::Fail));
        assert!(
            h.fix
                .as_ref()
                .unwrap()
                .contains("did you mean http_requests_total?"),
            "{h:?}"
        );
    }

    #[test]
    fn exporter_lists_the_served_values_of_a_label() {
        let w = run(
            r#"http_requests_total{code="600"}"#,
            Storage::Single,
            healthy(),
        );
        let h = last(&w);
        assert_eq!((h.id, h.mark), (1, Mark::Fail));
        assert!(h.evidence[0].contains(r#""200", "500""#), "{h:?}");
    }

    #[test]
    fn scrapers_show_the_stored_form_of_a_pre_relabel_job() {
        let w = run(
            r#"http_requests_total{job="exporter",code="200"}"#,
            Storage::Single,
            healthy(),
        );
        let h = last(&w);
        assert_eq!((h.id, h.mark), (2, Mark::Fail));
        assert!(h.evidence[0].contains("before relabelling"), "{h:?}");
        assert_eq!(
            h.fix.as_deref(),
            Some(r#"select the stored form: http_requests_total{job="mock-exporter",code="200"}"#)
        );
    }

    #[test]
    fn scrapers_say_when_a_target_is_down() {
        let down = target("", "").replace(r#""health":"up""#, r#""health":"down""#);
        let answers: Answers = [
            ":8429/api/v1/t",
            ":8430/api/v1/t",
            ":8431/api/v1/t",
            ":8432/api/v1/t",
            ":9092/api/v1/t",
        ]
        .into_iter()
        .map(|needle| (vec![needle], down.clone()))
        .collect();
        let w = run("app_queue_size", Storage::Single, with(answers, healthy()));
        let h = last(&w);
        assert_eq!((h.id, h.mark), (2, Mark::Fail));
        assert!(h.summary.starts_with("every target is down"), "{h:?}");
    }

    #[test]
    fn write_path_shows_the_text_of_a_4xx_answer() {
        let refused = vec![(
            vec!["POST http://127.0.0.1:8428/api/v1/write"],
            "400 unsupported path requested: \"/api/v1/write\"".to_string(),
        )];
        let w = run("app_queue_size", Storage::Single, with(refused, healthy()));
        let h = last(&w);
        assert_eq!((h.id, h.mark), (3, Mark::Fail));
        assert!(
            h.summary.contains("400: unsupported path requested"),
            "{h:?}"
        );
        assert!(h.fix.as_ref().unwrap().contains("/api/v1/write"), "{h:?}");
    }

    #[test]
    fn storage_fails_on_an_unknown_series() {
        let none = vec![(
            vec![":8428/prometheus/api/v1/series"],
            r#"{"status":"success","data":[]}"#.to_string(),
        )];
        let w = run("app_queue_size", Storage::Single, with(none, healthy()));
        let h = last(&w);
        assert_eq!((h.id, h.mark), (4, Mark::Fail));
        assert!(h.summary.contains("holds no such series"), "{h:?}");
    }

    const EMPTY: &str = r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#;

    #[test]
    fn query_blames_the_latency_offset_for_fresh_samples() {
        let sample = (NOW * 1000.0) as i64 - 5000;
        let answers = vec![
            (vec![":8427/prometheus/api/v1/query"], EMPTY.to_string()),
            (
                vec![":8428/flags"],
                "-search.latencyOffset=\"30s\"\n".to_string(),
            ),
            (
                vec![":8428/prometheus/api/v1/export"],
                format!(r#"{{"metric":{{}},"timestamps":[{sample}]}}"#),
            ),
        ];
        let w = run("app_queue_size", Storage::Single, with(answers, healthy()));
        let h = last(&w);
        assert_eq!((h.id, h.mark), (5, Mark::Fail));
        assert!(h.summary.contains("-search.latencyOffset (30.0s)"), "{h:?}");
        assert!(
            h.evidence
                .iter()
                .any(|e| e.contains("on http://127.0.0.1:8428/flags")),
            "{h:?}"
        );
        assert!(h.fix.as_ref().unwrap().contains("latency_offset"), "{h:?}");
    }

    #[test]
    fn query_calls_an_old_series_stale() {
        let answers = vec![
            (vec![":8427/prometheus/api/v1/query"], EMPTY.to_string()),
            (vec![":8428/prometheus/api/v1/export"], String::new()),
        ];
        let w = run("app_queue_size", Storage::Single, with(answers, healthy()));
        let h = last(&w);
        assert_eq!((h.id, h.mark), (5, Mark::Fail));
        assert!(
            h.summary.starts_with("no raw sample in the 300.0s"),
            "{h:?}"
        );
    }

    #[test]
    fn query_names_a_cluster_path_on_a_single_node() {
        let t = Topology::parse(include_str!("../../../lab.toml")).unwrap();
        let mut e = Endpoints::from_topology(&t, Storage::Single, Duration::from_secs(2));
        e.query = Endpoint::new("http://127.0.0.1:8427/select/1/prometheus");
        let answers = vec![(vec![":8427/select/1/"], EMPTY.to_string())];
        let client = Client::with_transport(Recorded(with(answers, healthy())));
        let selector = Selector::parse("app_queue_size").unwrap();
        let lab = Lab {
            endpoints: &e,
            topology: &t,
            client: &client,
            selector: &selector,
            at: NOW,
            clock: Clock::Fixed(NOW),
        };
        let w = walk(&lab, Backend::Vm);
        let h = last(&w);
        assert_eq!((h.id, h.mark), (5, Mark::Fail));
        assert!(h.summary.contains("is a cluster path"), "{h:?}");
        assert_eq!(h.fix.as_deref(), Some("--query-url http://127.0.0.1:8427/prometheus (the Grafana datasource URL likewise)"));
    }

    #[test]
    fn query_url_problem_names_tenant_and_path() {
        let f = |url, s| query_url_problem(url, s, 0).map(|p| p.1);
        assert_eq!(
            f("http://h:8427/select/0/prometheus", Storage::Cluster),
            None
        );
        assert_eq!(
            f("http://h:8427/select/1/prometheus", Storage::Cluster).as_deref(),
            Some("http://h:8427/select/0/prometheus")
        );
        assert_eq!(
            f("http://h:8427/prometheus", Storage::Cluster).as_deref(),
            Some("http://h:8427/select/0/prometheus")
        );
        assert_eq!(f("http://h:8427/prometheus", Storage::Single), None);
        assert_eq!(
            f("http://h:8427/select/0/prometheus", Storage::Single).as_deref(),
            Some("http://h:8427/prometheus")
        );
    }

    #[test]
    fn query_fails_a_partial_answer_naming_the_stopped_vmstorage() {
        let t = Topology::parse(include_str!("../../../lab.toml")).unwrap();
        let e = Endpoints::from_topology(&t, Storage::Cluster, Duration::from_secs(2));
        let answers = vec![
            (vec![":8427/select/0/prometheus/api/v1/query"], r#"{"status":"success","isPartial":true,"data":{"resultType":"vector","result":[{"metric":{},"value":[1700000000,"3"]}]}}"#.to_string()),
            (vec![":8492/health"], "OK".to_string()),
        ];
        let client = Client::with_transport(Recorded(answers));
        let selector = Selector::parse("app_queue_size").unwrap();
        let lab = Lab {
            endpoints: &e,
            topology: &t,
            client: &client,
            selector: &selector,
            at: NOW,
            clock: Clock::Fixed(NOW),
        };
        let h = query(&lab, Backend::Vm, &mut State::default()).unwrap();
        assert_eq!(h.mark, Mark::Fail);
        assert!(h.summary.starts_with("partial answer (1 series)"), "{h:?}");
        assert!(h.evidence[1].starts_with("down: vmstorage-1 "), "{h:?}");
        assert!(
            h.fix.as_ref().unwrap().contains("-replicationFactor"),
            "{h:?}"
        );
    }

    #[test]
    fn latency_offset_reads_flags_or_falls_back() {
        let t = Topology::parse(include_str!("../../../lab.toml")).unwrap();
        let e = Endpoints::from_topology(&t, Storage::Single, Duration::from_secs(2));
        let selector = Selector::parse("up").unwrap();
        let offset = |answers: Answers| {
            let client = Client::with_transport(Recorded(answers));
            let lab = Lab {
                endpoints: &e,
                topology: &t,
                client: &client,
                selector: &selector,
                at: NOW,
                clock: Clock::Fixed(NOW),
            };
            latency_offset(&lab, &Endpoint::new("http://vm")).0
        };
        assert_eq!(
            offset(vec![(
                vec!["/flags"],
                "-search.latencyOffset=\"1m0s\"\n".into()
            )]),
            Duration::from_secs(60)
        );
        assert_eq!(
            offset(vec![(vec!["/flags"], "-retentionPeriod=\"1d\"\n".into())]),
            Duration::from_secs(30)
        );
        assert_eq!(offset(Vec::new()), t.latency_offset);
        assert_eq!(go_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(go_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(go_duration("soon"), None);
    }
}
