//! End-to-end checks of a running lab, over HTTP only.
//!
//! Works against any lab (native, the NixOS VMs, or services started some other way): it needs
//! endpoints, not processes, and never looks at [`crate::lab::supervise`]'s state. Each check returns
//! evidence (counts, URLs, ages) so a failure says what was wrong, not only that something was.
//!
//! 1. Every exporter series arrives once per region, with the region's labels.
//! 2. The receiver (and VictoriaMetrics) hold the writer's series with the writer's labels.
//! 3. The newest sample per region is at most two scrape intervals old.
//! 4. Each vmagent sent only to its assigned vminsert; each vminsert accepted rows.
//! 5. Both vmstorage nodes hold rows; both vmselects served queries through vmauth.
//! 6. VictoriaMetrics and the receiver return the same value at the same timestamp for sampled
//!    series of the writer.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, Context};
use serde::Serialize;
use serde_json::Value;

use crate::lab::query::Client;
use crate::lab::render;
use crate::lab::topology::Topology;
use crate::lab::victoria::Storage;
use crate::scrape;

/// Labels the lab adds on the way; removed before comparing with the exporter's page.
const ADDED_LABELS: [&str; 6] = [
    "availability_zone",
    "cluster",
    "environment",
    "instance",
    "job",
    "region",
];

/// What a region's series must carry.
#[derive(Debug, Clone, Serialize)]
pub struct RegionExpect {
    pub name: String,
    pub cluster: String,
    pub environment: String,
    pub availability_zone: String,
    /// Base URL of the region's vmagent.
    pub vmagent: String,
    /// The one remote-write URL it must send to.
    pub remote_write_url: String,
}

/// Every endpoint `verify` talks to.
#[derive(Debug, Clone, Serialize)]
pub struct Endpoints {
    pub exporter: String,
    /// Prometheus-compatible query URL of VictoriaMetrics (through vmauth).
    pub query: String,
    pub query_user: Option<(String, String)>,
    pub receiver: String,
    pub writer_cluster: String,
    pub writer_environment: String,
    pub regions: Vec<RegionExpect>,
    pub storage: Storage,
    /// vminserts (or the single node) by name: base URLs.
    pub inserts: BTreeMap<String, String>,
    pub vmstorages: BTreeMap<String, String>,
    pub vmselects: BTreeMap<String, String>,
    pub scrape_interval: Duration,
}

impl Endpoints {
    /// The endpoints of the lab `t` describes.
    pub fn from_topology(t: &Topology, storage: Storage, scrape_interval: Duration) -> Endpoints {
        let inserts = match storage {
            Storage::Cluster => t
                .vminsert
                .iter()
                .map(|v| (v.name.clone(), t.http_url(v.port, "")))
                .collect(),
            Storage::Single => [(
                "victoria-metrics".to_string(),
                t.http_url(t.single.port, ""),
            )]
            .into(),
        };
        let mut e = Endpoints {
            exporter: render::exporter_url(t),
            query: render::query_url(t, storage),
            query_user: Some((t.vmauth.username.clone(), t.vmauth.password.clone())),
            receiver: t.http_url(t.prometheus.receiver.port, ""),
            writer_cluster: t.prometheus.writer.cluster.clone(),
            writer_environment: t.prometheus.writer.environment.clone(),
            regions: Vec::new(),
            storage,
            inserts,
            vmstorages: t
                .vmstorage
                .iter()
                .map(|s| (s.name.clone(), t.http_url(s.http_port, "")))
                .collect(),
            vmselects: t
                .vmselect
                .iter()
                .map(|s| (s.name.clone(), t.http_url(s.port, "")))
                .collect(),
            scrape_interval,
        };
        e.regions = t
            .region
            .iter()
            .map(|r| RegionExpect {
                name: r.name.clone(),
                cluster: r.cluster.clone(),
                environment: r.environment.clone(),
                availability_zone: r.availability_zone.clone(),
                vmagent: t.http_url(r.vmagent_port, ""),
                remote_write_url: String::new(),
            })
            .collect();
        let routes: BTreeMap<String, String> = t
            .region
            .iter()
            .map(|r| (r.name.clone(), r.vminsert.clone()))
            .collect();
        e.set_routes(&routes, t.tenant);
        e
    }

    /// Sets each region's expected remote-write URL from its vminsert's base URL.
    pub fn set_routes(&mut self, routes: &BTreeMap<String, String>, tenant: u32) {
        for r in &mut self.regions {
            r.remote_write_url = match self.storage {
                Storage::Cluster => {
                    let base = routes
                        .get(&r.name)
                        .and_then(|n| self.inserts.get(n))
                        .cloned()
                        .unwrap_or_default();
                    format!("{base}{}", self.storage.write_path(tenant))
                }
                Storage::Single => format!(
                    "{}{}",
                    self.inserts.values().next().cloned().unwrap_or_default(),
                    self.storage.write_path(tenant)
                ),
            };
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Fail,
    Skip,
}

/// The outcome of one check.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub id: u8,
    pub name: &'static str,
    pub status: Status,
    /// Evidence: what was counted, compared or found.
    pub detail: String,
}

fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// A PromQL selector for exact label values.
fn selector(labels: &BTreeMap<String, String>) -> String {
    let inner: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"")))
        .collect();
    format!("{{{}}}", inner.join(","))
}

/// Series scraped from the exporter under check, from an `/api/v1/series` answer.
struct Stored {
    /// Ids with the lab's own labels removed, for comparison with the exporter's page.
    ids: Vec<String>,
    /// Series lacking a required label value.
    wrong: Vec<String>,
    /// Series of other scrape targets (an earlier lab on other ports, kept with --keep-data):
    /// not this exporter's, so neither counted nor duplicates.
    other_instances: BTreeMap<String, usize>,
}

fn stored_series(data: &Value, instance: &str, required: &BTreeMap<&str, &str>) -> Stored {
    let mut out = Stored {
        ids: Vec::new(),
        wrong: Vec::new(),
        other_instances: BTreeMap::new(),
    };
    for s in data.as_array().into_iter().flatten() {
        let Some(obj) = s.as_object() else { continue };
        let mut labels: BTreeMap<String, String> = obj
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
            .collect();
        let name = labels.remove("__name__").unwrap_or_default();
        // Series the scraper makes itself (up, scrape_*) are not the exporter's.
        if name == "up" || name.starts_with("scrape_") {
            continue;
        }
        let inst = labels.get("instance").cloned().unwrap_or_default();
        if inst != instance {
            *out.other_instances.entry(inst).or_default() += 1;
            continue;
        }
        for (k, v) in required {
            if labels.get(*k).map(String::as_str) != Some(*v) {
                out.wrong
                    .push(format!("{name}{{…}} has {k}={:?}", labels.get(*k)));
            }
        }
        for l in ADDED_LABELS {
            labels.remove(l);
        }
        out.ids.push(scrape::series_id(&name, &labels));
    }
    out
}

/// The `instance` label scrapers give the exporter: the host:port of its URL.
fn instance_of(url: &str) -> String {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    rest.split('/').next().unwrap_or(rest).to_string()
}

/// "; N series of other instances ignored (…)" when there are any.
fn others_note(others: &BTreeMap<String, usize>) -> String {
    if others.is_empty() {
        return String::new();
    }
    let n: usize = others.values().sum();
    let list: Vec<&String> = others.keys().take(3).collect();
    format!(" ({n} series of other instances ignored: {list:?})")
}

/// Compares stored series with the exporter's: "n/m" and what is missing or extra.
fn compare(expected: &BTreeSet<String>, got: &[String]) -> (bool, String) {
    let set: BTreeSet<&String> = got.iter().collect();
    let missing: Vec<&String> = expected.iter().filter(|e| !set.contains(e)).collect();
    let extra: Vec<&&String> = set.iter().filter(|g| !expected.contains(**g)).collect();
    let dup = got.len() - set.len();
    let ok = missing.is_empty() && extra.is_empty() && dup == 0;
    let mut d = format!("{}/{}", got.len() - extra.len() - dup, expected.len());
    if !missing.is_empty() {
        d += &format!(", {} missing (e.g. {})", missing.len(), missing[0]);
    }
    if !extra.is_empty() {
        d += &format!(", {} unexpected (e.g. {})", extra.len(), extra[0]);
    }
    if dup > 0 {
        d += &format!(", {dup} duplicated");
    }
    (ok, d)
}

fn check(id: u8, name: &'static str, r: anyhow::Result<(bool, String)>) -> Check {
    match r {
        Ok((ok, detail)) => Check {
            id,
            name,
            status: if ok { Status::Pass } else { Status::Fail },
            detail,
        },
        Err(e) => Check {
            id,
            name,
            status: Status::Fail,
            detail: format!("{e:#}"),
        },
    }
}

/// Runs every check once.
pub fn run(e: &Endpoints) -> Vec<Check> {
    let c = Client::new();
    let page = c.text(&e.exporter, None).and_then(|t| scrape::parse(&t));
    let expected: anyhow::Result<BTreeSet<String>> = match &page {
        Ok(series) => Ok(series.iter().map(scrape::Series::id).collect()),
        Err(err) => Err(anyhow!(
            "cannot read the exporter at {}: {err:#}",
            e.exporter
        )),
    };
    let auth = e.query_user.as_ref();
    let instance = instance_of(&e.exporter);
    let window = (e.scrape_interval.as_secs_f64() * 20.0).max(300.0);
    let range = || {
        vec![
            ("start", format!("{:.3}", now_secs() - window)),
            ("end", format!("{:.3}", now_secs())),
        ]
    };
    let mut out = Vec::new();

    out.push(check(
        1,
        "exporter series arrive once per region",
        (|| {
            let exp = expected.as_ref().map_err(|e| anyhow!("{e:#}"))?;
            let mut ok = true;
            let mut parts = Vec::new();
            for r in &e.regions {
                let mut params = range();
                params.push((
                    "match[]",
                    format!("{{job=\"mock-exporter\",region=\"{}\"}}", r.name),
                ));
                let data = c.api(&e.query, "/api/v1/series", &params, auth)?;
                let required = BTreeMap::from([
                    ("cluster", r.cluster.as_str()),
                    ("environment", r.environment.as_str()),
                    ("availability_zone", r.availability_zone.as_str()),
                    ("job", "mock-exporter"),
                ]);
                let st = stored_series(&data, &instance, &required);
                let (same, d) = compare(exp, &st.ids);
                ok &= same && st.wrong.is_empty();
                parts.push(format!(
                    "{}: {d}{}",
                    r.name,
                    others_note(&st.other_instances)
                ));
                if let Some(w) = st.wrong.first() {
                    parts.push(format!(
                        "{} series with wrong labels, e.g. {w}",
                        st.wrong.len()
                    ));
                }
            }
            Ok((ok, parts.join("; ")))
        })(),
    ));

    out.push(check(
        2,
        "the writer's series reach the receiver and VictoriaMetrics",
        (|| {
            let exp = expected.as_ref().map_err(|e| anyhow!("{e:#}"))?;
            let required = BTreeMap::from([
                ("cluster", e.writer_cluster.as_str()),
                ("environment", e.writer_environment.as_str()),
                ("job", "mock-exporter"),
            ]);
            let mut params = range();
            params.push((
                "match[]",
                format!("{{job=\"mock-exporter\",cluster=\"{}\"}}", e.writer_cluster),
            ));
            let mut ok = true;
            let mut parts = Vec::new();
            for (who, base, a) in [
                ("receiver", &e.receiver, None),
                ("VictoriaMetrics", &e.query, auth),
            ] {
                let data = c.api(base, "/api/v1/series", &params, a)?;
                let st = stored_series(&data, &instance, &required);
                let (same, d) = compare(exp, &st.ids);
                ok &= same && st.wrong.is_empty();
                parts.push(format!("{who}: {d}{}", others_note(&st.other_instances)));
            }
            Ok((ok, parts.join("; ")))
        })(),
    ));

    out.push(check(3, "newest sample per region is fresh", (|| {
        let limit = 2.0 * e.scrape_interval.as_secs_f64();
        let data = c.api(
            &e.query,
            "/api/v1/query",
            &[
                ("query", "max by (region) (timestamp(node_memory_MemTotal_bytes{job=\"mock-exporter\",region!=\"\"}))".into()),
                ("nocache", "1".into()),
            ],
            auth,
        )?;
        let now = now_secs();
        let ages: BTreeMap<String, f64> = data["result"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| {
                let region = r["metric"]["region"].as_str()?.to_string();
                let ts: f64 = r["value"][1].as_str()?.parse().ok()?;
                Some((region, now - ts))
            })
            .collect();
        let mut ok = true;
        let mut parts = Vec::new();
        for r in &e.regions {
            match ages.get(&r.name) {
                Some(age) => {
                    ok &= *age <= limit;
                    parts.push(format!("{} {age:.1}s", r.name));
                }
                None => {
                    ok = false;
                    parts.push(format!("{} no samples", r.name));
                }
            }
        }
        Ok((ok, format!("{} (limit {limit:.0}s)", parts.join(", "))))
    })()));

    out.push(check(
        4,
        "each vmagent writes only to its vminsert, which accepts rows",
        (|| {
            let mut ok = true;
            let mut parts = Vec::new();
            for r in &e.regions {
                let m = c
                    .metrics(&r.vmagent)
                    .with_context(|| format!("vmagent of {}", r.name))?;
                let mut sent: BTreeMap<String, f64> = BTreeMap::new();
                for s in m
                    .iter()
                    .filter(|s| s.name == "vmagent_remotewrite_requests_total")
                {
                    let url = s.labels.get("url").cloned().unwrap_or_default();
                    // vmagent prefixes the URL with its index: "1:http://…".
                    let url = match url.split_once(':') {
                        Some((n, rest)) if n.chars().all(|c| c.is_ascii_digit()) => {
                            rest.to_string()
                        }
                        _ => url,
                    };
                    if s.labels.get("status_code").map(String::as_str) == Some("2XX") {
                        *sent.entry(url).or_default() += s.value;
                    } else {
                        sent.entry(url).or_default();
                    }
                }
                let good = sent.get(&r.remote_write_url).copied().unwrap_or(0.0);
                let others: Vec<&String> =
                    sent.keys().filter(|u| **u != r.remote_write_url).collect();
                ok &= good > 0.0 && others.is_empty();
                let mut d = format!("{} → {} ({good} ok requests)", r.name, r.remote_write_url);
                if !others.is_empty() {
                    d += &format!(" and also to {others:?}");
                }
                parts.push(d);
            }
            for (name, base) in &e.inserts {
                let rows: f64 = c
                    .metrics(base)
                    .with_context(|| name.clone())?
                    .iter()
                    .filter(|s| s.name == "vm_rows_inserted_total")
                    .map(|s| s.value)
                    .sum();
                ok &= rows > 0.0;
                parts.push(format!("{name} accepted {rows} rows"));
            }
            Ok((ok, parts.join("; ")))
        })(),
    ));

    if e.storage == Storage::Single {
        out.push(Check {
            id: 5,
            name: "both vmstorages hold rows; both vmselects serve queries",
            status: Status::Skip,
            detail: "single-node storage: no vmstorage or vmselect in this lab (run with --storage cluster)".into(),
        });
    } else {
        out.push(check(
            5,
            "both vmstorages hold rows; both vmselects serve queries",
            (|| {
                // A few queries through vmauth, so that every vmselect gets its share.
                for _ in 0..2 * e.vmselects.len() {
                    c.api(
                        &e.query,
                        "/api/v1/query",
                        &[("query", "vector(1)".into())],
                        auth,
                    )?;
                }
                let mut ok = true;
                let mut parts = Vec::new();
                for (name, base) in &e.vmstorages {
                    let m = c.metrics(base).with_context(|| name.clone())?;
                    let rows: f64 = m
                        .iter()
                        .filter(|s| s.name == "vm_rows_added_to_storage_total")
                        .map(|s| s.value)
                        .sum();
                    ok &= rows > 0.0;
                    parts.push(format!("{name} {rows} rows"));
                }
                for (name, base) in &e.vmselects {
                    let m = c.metrics(base).with_context(|| name.clone())?;
                    let served: f64 = m
                        .iter()
                        .filter(|s| {
                            s.name == "vm_http_requests_total"
                                && s.labels
                                    .get("path")
                                    .is_some_and(|p| p.starts_with("/select/"))
                        })
                        .map(|s| s.value)
                        .sum();
                    ok &= served > 0.0;
                    parts.push(format!("{name} served {served} requests"));
                }
                Ok((ok, parts.join("; ")))
            })(),
        ));
    }

    out.push(check(
        6,
        "VictoriaMetrics and the receiver agree on the writer's samples",
        (|| {
            let series = page.as_ref().map_err(|e| anyhow!("{e:#}"))?;
            let mut ids: Vec<&scrape::Series> = series.iter().collect();
            ids.sort_by_key(|s| s.id());
            let step = (ids.len() / 20).max(1);
            let at = (now_secs() - 2.0 * e.scrape_interval.as_secs_f64() - 1.0).floor();
            let lookback = format!("{}s", (e.scrape_interval.as_secs() * 4).max(60));
            let mut compared = 0;
            let mut mismatches = Vec::new();
            for s in ids.iter().step_by(step).take(20) {
                let mut labels = s.labels.clone();
                labels.insert("__name__".into(), s.name.clone());
                labels.insert("cluster".into(), e.writer_cluster.clone());
                let q = format!("{}[{lookback}]", selector(&labels));
                let last = |base: &str,
                            a: Option<&(String, String)>|
                 -> anyhow::Result<Option<(f64, String)>> {
                    let data = c.api(
                        base,
                        "/api/v1/query",
                        &[
                            ("query", q.clone()),
                            ("time", format!("{at}")),
                            ("nocache", "1".into()),
                        ],
                        a,
                    )?;
                    Ok(data["result"][0]["values"]
                        .as_array()
                        .and_then(|v| v.last())
                        .and_then(|p| Some((p[0].as_f64()?, p[1].as_str()?.to_string()))))
                };
                let (vm, rx) = (last(&e.query, auth)?, last(&e.receiver, None)?);
                match (&vm, &rx) {
                    (Some((tv, vv)), Some((tr, vr)))
                        if (tv - tr).abs() < 1e-6 && same_value(vv, vr) =>
                    {
                        compared += 1
                    }
                    _ => mismatches.push(format!(
                        "{}: VictoriaMetrics {vm:?}, receiver {rx:?}",
                        s.id()
                    )),
                }
            }
            let ok = mismatches.is_empty() && compared > 0;
            let mut d = format!("{compared} sampled series identical at t={at}");
            if let Some(m) = mismatches.first() {
                d += &format!("; {} differ, e.g. {m}", mismatches.len());
            }
            Ok((ok, d))
        })(),
    ));
    out
}

fn same_value(a: &str, b: &str) -> bool {
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => x == y || (x - y).abs() <= 1e-12 * x.abs().max(y.abs()),
        _ => a == b,
    }
}

/// Whether a set of checks is green: nothing failed.
pub fn passed(checks: &[Check]) -> bool {
    checks.iter().all(|c| c.status != Status::Fail)
}

/// The checks as a table for people.
pub fn table(checks: &[Check]) -> String {
    let mut out = String::new();
    for c in checks {
        let mark = match c.status {
            Status::Pass => "PASS",
            Status::Fail => "FAIL",
            Status::Skip => "SKIP",
        };
        out += &format!("{mark}  {}. {}\n      {}\n", c.id, c.name, c.detail);
    }
    let n = |s: Status| checks.iter().filter(|c| c.status == s).count();
    out += &format!(
        "{} passed, {} failed, {} skipped\n",
        n(Status::Pass),
        n(Status::Fail),
        n(Status::Skip)
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_series_keeps_the_exporter_instance_only() {
        let data = serde_json::json!([
            {"__name__": "x_total", "instance": "127.0.0.1:2112", "job": "mock-exporter", "region": "r", "a": "1"},
            {"__name__": "x_total", "instance": "127.0.0.1:3112", "job": "mock-exporter", "region": "r", "a": "1"},
            {"__name__": "up", "instance": "127.0.0.1:2112", "job": "mock-exporter", "region": "r"},
            {"__name__": "y", "instance": "127.0.0.1:2112", "job": "other", "region": "r"}
        ]);
        let required = BTreeMap::from([("job", "mock-exporter")]);
        let st = stored_series(
            &data,
            &instance_of("http://127.0.0.1:2112/metrics"),
            &required,
        );
        assert_eq!(st.ids, ["x_total{a=\"1\"}", "y{}"]);
        assert_eq!(st.wrong.len(), 1, "{:?}", st.wrong);
        assert_eq!(
            st.other_instances,
            BTreeMap::from([("127.0.0.1:3112".to_string(), 1)])
        );
    }

    #[test]
    fn compare_reports_missing_extra_and_duplicates() {
        let exp: BTreeSet<String> = ["a{}", "b{}", "c{}"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let (ok, d) = compare(
            &exp,
            &["a{}".into(), "b{}".into(), "b{}".into(), "z{}".into()],
        );
        assert!(!ok);
        assert_eq!(
            d,
            "2/3, 1 missing (e.g. c{}), 1 unexpected (e.g. z{}), 1 duplicated"
        );
        assert!(compare(&exp, &["c{}".into(), "a{}".into(), "b{}".into()]).0);
    }

    #[test]
    fn selector_escapes_values() {
        let l = BTreeMap::from([
            ("__name__".to_string(), "x".to_string()),
            ("a".to_string(), "q\"\\".to_string()),
        ]);
        assert_eq!(selector(&l), "{__name__=\"x\",a=\"q\\\"\\\\\"}");
    }
}
