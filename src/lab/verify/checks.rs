//! The checks, one function each, in [`super::CHECKS`] order, and the helpers they share.
//!
//! Each reads the lab through [`Context`] only, so the tests below run it against recorded API
//! answers, passing and failing, without a lab.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Context as _;

use super::delays::Budget;
use super::held::{held, Expected};
use super::{Context, Verdict};
use crate::lab::alerts;
use crate::lab::endpoints::Endpoint;
use crate::lab::query::Labels;
use crate::lab::victoria::{Storage, CLUSTER_SELECT_PREFIX};
use crate::scrape;

/// Check 1: Every exporter series arrives in VictoriaMetrics once per region, with its labels.
pub fn exporter_series_once_per_region(cx: &Context) -> anyhow::Result<Verdict> {
    let e = cx.endpoints;
    let expected = Expected::from_page(cx.page()?);
    let mut ok = true;
    let mut parts = Vec::new();
    for r in &e.regions {
        let matchers = format!("job=\"mock-exporter\",region=\"{}\"", r.name);
        let required = BTreeMap::from([
            ("cluster", r.cluster.as_str()),
            ("environment", r.environment.as_str()),
            ("availability_zone", r.availability_zone.as_str()),
            ("job", "mock-exporter"),
        ]);
        let (same, d) = held(cx, &expected, &e.query, &matchers, &required)?;
        ok &= same;
        parts.push(format!("{}: {d}", r.name));
    }
    Ok(Verdict::pass_if(ok, parts.join("; ")))
}

/// Check 2: The receiver and VictoriaMetrics hold the writer's series with the writer's labels.
pub fn writer_series_in_both_stores(cx: &Context) -> anyhow::Result<Verdict> {
    let e = cx.endpoints;
    let expected = Expected::from_page(cx.page()?);
    let required = BTreeMap::from([
        ("cluster", e.writer_cluster.as_str()),
        ("environment", e.writer_environment.as_str()),
        ("job", "mock-exporter"),
    ]);
    let matchers = format!("job=\"mock-exporter\",cluster=\"{}\"", e.writer_cluster);
    let mut ok = true;
    let mut parts = Vec::new();
    for (who, store) in [("receiver", &e.receiver), ("VictoriaMetrics", &e.query)] {
        let (same, d) = held(cx, &expected, store, &matchers, &required)?;
        ok &= same;
        parts.push(format!("{who}: {d}"));
    }
    Ok(Verdict::pass_if(ok, parts.join("; ")))
}

/// Check 3: The newest raw sample of each region is younger than the region path's delay
/// budget ([`Budget::region_freshness`]).
///
/// Read with `/api/v1/export` (raw samples: "did it arrive"), not `/api/v1/query`, whose answer
/// also depends on `-search.latencyOffset`, the lookback window and caching ("is it visible").
pub fn newest_sample_is_fresh(cx: &Context) -> anyhow::Result<Verdict> {
    let e = cx.endpoints;
    let budget = Budget::region_freshness(e.storage, e.scrape_interval);
    let limit = budget.total().as_secs_f64();
    let now = cx.clock.now();
    let window = (3.0 * limit).max(60.0);
    let exported = cx.client.export(
        &e.query,
        &[
            ("match[]", FRESHNESS_SELECTOR.into()),
            ("start", format!("{}", (now - window).floor())),
        ],
    )?;
    let mut newest: BTreeMap<String, f64> = BTreeMap::new();
    for series in &exported {
        if let (Some(region), Some(t)) = (series.metric.get("region"), series.newest()) {
            let n = newest.entry(region.clone()).or_insert(t);
            *n = n.max(t);
        }
    }
    let mut stale = Vec::new();
    let mut parts = Vec::new();
    for r in &e.regions {
        match newest.get(&r.name) {
            Some(t) if now - t <= limit => parts.push(format!("{} {:.1}s", r.name, now - t)),
            Some(t) => {
                stale.push(r.name.as_str());
                parts.push(format!("{} {:.1}s STALE", r.name, now - t));
            }
            None => {
                stale.push(r.name.as_str());
                parts.push(format!("{} no sample in the last {window:.0}s", r.name));
            }
        }
    }
    let mut detail = format!(
        "{} (limit {budget}; raw samples via /api/v1/export)",
        parts.join(", ")
    );
    if !stale.is_empty() {
        detail = format!("stale: {}; {detail}", stale.join(", "));
    }
    Ok(Verdict::pass_if(stale.is_empty(), detail))
}

/// One series per exporter host, in every region.
const FRESHNESS_SELECTOR: &str = "node_memory_MemTotal_bytes{job=\"mock-exporter\",region!=\"\"}";

/// Check 4: Each vmagent sent only to its assigned vminsert; each vminsert accepted rows.
pub fn vmagents_write_to_their_vminsert(cx: &Context) -> anyhow::Result<Verdict> {
    let e = cx.endpoints;
    let mut ok = true;
    let mut parts = Vec::new();
    for r in &e.regions {
        let m = cx
            .client
            .metrics(&r.vmagent)
            .with_context(|| format!("vmagent of {}", r.name))?;
        let sent = requests_by_url(&m);
        let good = sent.get(&r.remote_write_url).copied().unwrap_or(0.0);
        let others: Vec<&String> = sent.keys().filter(|u| **u != r.remote_write_url).collect();
        ok &= good > 0.0 && others.is_empty();
        let mut d = format!("{} → {} ({good} ok requests)", r.name, r.remote_write_url);
        if !others.is_empty() {
            d += &format!(" and also to {others:?}");
        }
        parts.push(d);
    }
    for (name, insert) in &e.inserts {
        let rows = counter(cx, name, insert, "vm_rows_inserted_total", |_| true)?;
        ok &= rows > 0.0;
        parts.push(format!("{name} accepted {rows} rows"));
    }
    Ok(Verdict::pass_if(ok, parts.join("; ")))
}

/// Check 5: Both vmstorage nodes hold rows and both vmselects served queries (cluster only).
pub fn storage_nodes_hold_rows_and_vmselects_serve(cx: &Context) -> anyhow::Result<Verdict> {
    let e = cx.endpoints;
    if e.storage == Storage::Single {
        return Ok(Verdict::skip(
            "single-node storage: no vmstorage or vmselect in this lab (run with --storage cluster)",
        ));
    }
    // A few queries through vmauth, so that every vmselect gets its share.
    for _ in 0..2 * e.vmselects.len() {
        cx.client
            .query(&e.query, &[("query", "vector(1)".into())])?;
    }
    let mut ok = true;
    let mut parts = Vec::new();
    for (name, node) in &e.vmstorages {
        let rows = counter(cx, name, node, "vm_rows_added_to_storage_total", |_| true)?;
        ok &= rows > 0.0;
        parts.push(format!("{name} {rows} rows"));
    }
    for (name, select) in &e.vmselects {
        let served = counter(cx, name, select, "vm_http_requests_total", |l| {
            l.get("path")
                .is_some_and(|p| p.starts_with(CLUSTER_SELECT_PREFIX))
        })?;
        ok &= served > 0.0;
        parts.push(format!("{name} served {served} requests"));
    }
    Ok(Verdict::pass_if(ok, parts.join("; ")))
}

/// Check 6: VictoriaMetrics and the receiver return the same last sample for up to 20 of the
/// writer's series, evenly spread, at one instant safely in the past.
pub fn stores_agree_on_the_writers_samples(cx: &Context) -> anyhow::Result<Verdict> {
    let e = cx.endpoints;
    let mut ids: Vec<&scrape::Series> = cx.page()?.iter().collect();
    ids.sort_by_key(|s| s.id());
    let step = (ids.len() / 20).max(1);
    // Late enough that both stores hold every sample up to `at` (the writer path's budget).
    let budget = Budget::writer_arrival(e.storage);
    let at = (cx.clock.now() - budget.total().as_secs_f64()).floor();
    let lookback = format!("{}s", (e.scrape_interval.as_secs() * 4).max(60));
    let mut compared = 0;
    let mut mismatches = Vec::new();
    for s in ids.iter().step_by(step).take(20) {
        let mut labels = s.labels.clone();
        labels.insert("__name__".into(), s.name.clone());
        labels.insert("cluster".into(), e.writer_cluster.clone());
        let q = format!("{}[{lookback}]", selector(&labels));
        let (vm, rx) = (
            last_sample(cx, &e.query, &q, at)?,
            last_sample(cx, &e.receiver, &q, at)?,
        );
        match (&vm, &rx) {
            (Some((tv, vv)), Some((tr, vr))) if (tv - tr).abs() < 1e-6 && same_value(vv, vr) => {
                compared += 1
            }
            _ => mismatches.push(format!(
                "{}: VictoriaMetrics {vm:?}, receiver {rx:?}",
                s.id()
            )),
        }
    }
    let mut d = format!("{compared} sampled series identical at t={at} (now - {budget})");
    if let Some(m) = mismatches.first() {
        d += &format!("; {} differ, e.g. {m}", mismatches.len());
    }
    Ok(Verdict::pass_if(mismatches.is_empty() && compared > 0, d))
}

/// What check 7 asks the writer for: a series only the receiver holds (its scrape of the lab's
/// own components), which the writer can only answer through remote read.
const RECEIVER_ONLY: &str = "up{job=\"lab\"}";

/// Check 7: A query at the writer sees what only the receiver holds: the receiver's `up` of
/// each lab component (job `lab`, which the writer never scrapes), through remote read.
pub fn writer_reads_from_the_receiver(cx: &Context) -> anyhow::Result<Verdict> {
    let e = cx.endpoints;
    let params = [
        ("query", RECEIVER_ONLY.to_string()),
        ("time", format!("{:.3}", cx.clock.now())),
    ];
    let components = |store: &Endpoint| -> anyhow::Result<BTreeSet<String>> {
        let data = cx.client.query(store, &params)?;
        Ok(data
            .vector()
            .into_iter()
            .filter_map(|s| s.metric.get("component").cloned())
            .collect())
    };
    let held = components(&e.receiver).context("the receiver")?;
    let read = components(&e.writer).context("the writer")?;
    let missing: Vec<&String> = held.difference(&read).collect();
    let mut d = format!(
        "{RECEIVER_ONLY} at the writer ({}): {}/{} of the receiver's series, read from {}",
        e.writer.url,
        held.len() - missing.len(),
        held.len(),
        e.receiver.join("/api/v1/read")
    );
    if let Some(m) = missing.first() {
        d += &format!("; {} missing (e.g. component {m:?})", missing.len());
    }
    Ok(Verdict::pass_if(!held.is_empty() && missing.is_empty(), d))
}

/// The last raw sample (time, value) a range selector `q` returns at `at`.
fn last_sample(
    cx: &Context,
    store: &Endpoint,
    q: &str,
    at: f64,
) -> anyhow::Result<Option<(f64, String)>> {
    let params = [
        ("query", q.to_string()),
        ("time", format!("{at}")),
        ("nocache", "1".into()),
    ];
    let data = cx.client.query(store, &params)?;
    let first = data.matrix().into_iter().next();
    Ok(first
        .and_then(|s| s.values.last().cloned())
        .map(|p| (p.0, p.1)))
}

/// The sum of a counter on a component's `/metrics`, over the series whose labels `keep`.
fn counter(
    cx: &Context,
    component: &str,
    e: &Endpoint,
    name: &str,
    keep: impl Fn(&Labels) -> bool,
) -> anyhow::Result<f64> {
    let m = cx
        .client
        .metrics(e)
        .with_context(|| component.to_string())?;
    Ok(m.iter()
        .filter(|s| s.name == name && keep(&s.labels))
        // Folded from +0: an empty f64 sum is -0, which would print as "-0 requests".
        .fold(0.0, |sum, s| sum + s.value))
}

/// A vmagent's successful remote-write requests per URL; URLs it only failed on count 0.
fn requests_by_url(m: &[scrape::Series]) -> BTreeMap<String, f64> {
    let mut sent: BTreeMap<String, f64> = BTreeMap::new();
    for s in m
        .iter()
        .filter(|s| s.name == "vmagent_remotewrite_requests_total")
    {
        let url = s.labels.get("url").cloned().unwrap_or_default();
        // vmagent prefixes the URL with its index: "1:http://…".
        let url = match url.split_once(':') {
            Some((n, rest)) if n.chars().all(|c| c.is_ascii_digit()) => rest.to_string(),
            _ => url,
        };
        let total = sent.entry(url).or_default();
        if s.labels.get("status_code").map(String::as_str) == Some("2XX") {
            *total += s.value;
        }
    }
    sent
}

/// A PromQL selector for exact label values.
fn selector(labels: &BTreeMap<String, String>) -> String {
    let inner: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"")))
        .collect();
    format!("{{{}}}", inner.join(","))
}

/// The always-firing alert every evaluator must deliver to Alertmanager (`rules/watchdog.yml`).
pub const WATCHDOG: &str = "Watchdog";

/// Alerting check: both evaluators (vmalert, the Prometheus receiver) loaded the same number
/// of rules, none failing its last evaluation, and Alertmanager holds the Watchdog alert from
/// each (told apart by the `evaluator` label the lab adds).
pub fn rules_load_and_watchdog_reaches_alertmanager(cx: &Context) -> anyhow::Result<Verdict> {
    let e = cx.endpoints;
    let mut ok = true;
    let mut parts = Vec::new();
    let mut counts = Vec::new();
    for (who, at) in [
        (alerts::VMALERT_EVALUATOR, &e.vmalert),
        (alerts::RECEIVER_EVALUATOR, &e.receiver),
    ] {
        let loaded = alerts::rule_groups(cx.client, at)
            .with_context(|| format!("{who}'s rules"))?
            .summary();
        ok &= loaded.rules > 0 && loaded.errors.is_empty();
        let mut p = format!("{who}: {} rules in {} groups", loaded.rules, loaded.groups);
        if let Some((rule, err)) = loaded.errors.first() {
            p += &format!(", {} failing (e.g. {rule}: {err})", loaded.errors.len());
        }
        parts.push(p);
        counts.push(loaded.rules);
    }
    if counts.windows(2).any(|w| w[0] != w[1]) {
        ok = false;
        parts.push("the evaluators loaded different rule sets".into());
    }
    let received = alerts::received_alerts(cx.client, &e.alertmanager)?;
    let from = alerts::received_by_evaluator(&received, WATCHDOG);
    let missing: Vec<&str> = [alerts::VMALERT_EVALUATOR, alerts::RECEIVER_EVALUATOR]
        .into_iter()
        .filter(|w| !from.contains_key(*w))
        .collect();
    ok &= missing.is_empty();
    parts.push(if missing.is_empty() {
        format!("Alertmanager holds {WATCHDOG} from both")
    } else {
        format!(
            "Alertmanager lacks {WATCHDOG} from {} ({} alerts held)",
            missing.join(" and "),
            received.len()
        )
    });
    Ok(Verdict::pass_if(ok, parts.join("; ")))
}

fn same_value(a: &str, b: &str) -> bool {
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => x == y || (x - y).abs() <= 1e-12 * x.abs().max(y.abs()),
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    //! Each check against recorded answers of a two-region cluster lab: one answer set that
    //! passes, and changes to it that must fail.

    use std::time::Duration;

    use serde_json::json;

    use super::super::{Check, Clock, Status, CHECKS};
    use super::*;
    use crate::lab::endpoints::{Endpoints, RegionExpect};
    use crate::lab::query::{Client, Recorded};

    const NOW: f64 = 1_700_000_000.0;
    const PAGE: &str = "# TYPE x gauge\nx{a=\"1\"} 3\n# TYPE y gauge\ny 2\n";
    const VM: &str = "http://vmauth/select/0/prometheus";

    type Answers = Vec<(Vec<&'static str>, String)>;

    fn lab(storage: Storage) -> Endpoints {
        let region = |name: &str, vminsert: &str| RegionExpect {
            name: name.into(),
            cluster: format!("prod-{name}"),
            environment: "production".into(),
            availability_zone: format!("{name}a"),
            vmagent: Endpoint::new(format!("http://agent-{name}")),
            vminsert: vminsert.into(),
            remote_write_url: String::new(),
        };
        let named = |names: [&str; 2]| {
            names
                .iter()
                .map(|n| (n.to_string(), Endpoint::new(format!("http://{n}"))))
                .collect()
        };
        let mut e = Endpoints {
            exporter: Endpoint::new("http://exp:2112/metrics"),
            query: Endpoint::new(VM),
            receiver: Endpoint::new("http://rx"),
            writer: Endpoint::new("http://wr"),
            vmalert: Endpoint::new("http://vmalert"),
            alertmanager: Endpoint::new("http://am"),
            writer_cluster: "staging".into(),
            writer_environment: "staging".into(),
            regions: vec![region("r1", "ins-1"), region("r2", "ins-2")],
            storage,
            tenant: 0,
            inserts: named(["ins-1", "ins-2"]),
            vmstorages: named(["st-1", "st-2"]),
            vmselects: named(["sel-1", "sel-2"]),
            scrape_interval: Duration::from_secs(2),
        };
        e.set_routes();
        e
    }

    /// Runs check `id` against the answers (the exporter's page is always there).
    fn run(id: u8, e: &Endpoints, mut answers: Answers) -> Check {
        answers.push((vec!["http://exp:2112/metrics"], PAGE.into()));
        let client = Client::with_transport(Recorded(answers));
        let cx = Context::new(e, &client, Clock::Fixed(NOW));
        CHECKS[usize::from(id) - 1].check(&cx)
    }

    /// A page of two hosts, one of them churned (so the selector names the page's hosts), checked as if it were above the listing limit.
    fn run_counted(id: u8, e: &Endpoints, mut answers: Answers) -> Check {
        let page = "# TYPE x gauge\nx{a=\"1\",host=\"h1-g3\"} 3\nx{a=\"1\",host=\"h2\"} 3\n# TYPE y gauge\ny{host=\"h1-g3\"} 2\ny{host=\"h2\"} 2\n";
        answers.push((vec!["http://exp:2112/metrics"], page.into()));
        let client = Client::with_transport(Recorded(answers));
        let mut cx = Context::new(e, &client, Clock::Fixed(NOW));
        cx.list_limit = 3;
        CHECKS[usize::from(id) - 1].check(&cx)
    }

    /// A `count by (__name__, …)` answer: (name, count) groups with `labels`.
    fn counts(labels: &serde_json::Value, groups: &[(&str, u32)]) -> serde_json::Value {
        let v: Vec<serde_json::Value> = groups
            .iter()
            .map(|(n, c)| {
                let mut m = labels.clone();
                m["__name__"] = json!(n);
                json!({"metric": m, "value": [NOW, c.to_string()]})
            })
            .collect();
        json!(v)
    }

    fn counted_answers(r2_counts: serde_json::Value) -> Answers {
        let count = |r: &'static str| {
            vec![
                VM,
                "/api/v1/query",
                "count by (__name__",
                r,
                "host=~\"h1-g3|h2\"",
            ]
        };
        let group = |r: &str| {
            let mut l = region_labels(r);
            l.as_object_mut().unwrap().remove("instance");
            l.as_object_mut().unwrap().remove("region");
            l
        };
        let host_h1 = |r: &str| {
            let mut l = region_labels(r);
            l["host"] = json!("h1-g3");
            stored(l, &["x", "y"])
        };
        vec![
            (
                count("region=\"r1\""),
                success(
                    json!({"resultType": "vector", "result": counts(&group("r1"), &[("x", 2), ("y", 2)])}),
                ),
            ),
            (
                count("region=\"r2\""),
                success(json!({"resultType": "vector", "result": r2_counts})),
            ),
            (
                vec![VM, "/api/v1/series", "region=\"r1\"", "host=\"h1-g3\""],
                host_h1("r1"),
            ),
            (
                vec![VM, "/api/v1/series", "region=\"r2\"", "host=\"h1-g3\""],
                host_h1("r2"),
            ),
        ]
    }

    #[test]
    fn check_1_counts_per_name_above_the_listing_limit() {
        let mut r2 = region_labels("r2");
        r2.as_object_mut().unwrap().remove("instance");
        r2.as_object_mut().unwrap().remove("region");
        let c = run_counted(
            1,
            &lab(Storage::Cluster),
            counted_answers(counts(&r2, &[("x", 2), ("y", 2)])),
        );
        assert_eq!(c.status, Status::Pass, "{}", c.detail);
        assert!(
            c.detail
                .starts_with("r1: 4/4 series counted in 2 names; h1-g3 listed: 2/2 ("),
            "{}",
            c.detail
        );
    }

    #[test]
    fn check_1_counting_catches_a_missing_series_and_wrong_labels() {
        let mut r2 = region_labels("r2");
        r2.as_object_mut().unwrap().remove("instance");
        r2.as_object_mut().unwrap().remove("region");
        let mut wrong = r2.clone();
        wrong["availability_zone"] = json!("r2z");
        let mut groups = counts(&r2, &[("x", 2), ("y", 1)]);
        groups
            .as_array_mut()
            .unwrap()
            .extend(counts(&wrong, &[("y", 1)]).as_array().unwrap().clone());
        let c = run_counted(1, &lab(Storage::Cluster), counted_answers(groups));
        assert_eq!(c.status, Status::Fail, "{}", c.detail);
        assert!(
            c.detail.contains("r2: 3/4 series counted in 2 names, counts differ for 1 name (e.g. y 1/2); 1 series with wrong labels, e.g. y{…} has availability_zone=Some(\"r2z\")"),
            "{}",
            c.detail
        );
    }

    fn success(data: serde_json::Value) -> String {
        json!({ "status": "success", "data": data }).to_string()
    }

    /// An `/api/v1/series` answer: the exporter's series `x{a="1"}` and `y`, plus `up`, each
    /// with `labels`.
    fn stored(labels: serde_json::Value, names: &[&str]) -> String {
        let series: Vec<serde_json::Value> = names
            .iter()
            .chain(&["up"])
            .map(|n| {
                let mut s = labels.clone();
                s["__name__"] = json!(n);
                if *n == "x" {
                    s["a"] = json!("1");
                }
                s
            })
            .collect();
        success(json!(series))
    }

    fn region_labels(r: &str) -> serde_json::Value {
        json!({"instance": "exp:2112", "job": "mock-exporter", "region": r,
               "cluster": format!("prod-{r}"), "environment": "production",
               "availability_zone": format!("{r}a")})
    }

    fn check_1_answers(r2: serde_json::Value, r2_names: &[&str]) -> Answers {
        vec![
            (
                vec![VM, "/api/v1/series", "region=\"r1\""],
                stored(region_labels("r1"), &["x", "y"]),
            ),
            (
                vec![VM, "/api/v1/series", "region=\"r2\""],
                stored(r2, r2_names),
            ),
        ]
    }

    #[test]
    fn check_1_passes_when_every_region_has_every_series_once() {
        let c = run(
            1,
            &lab(Storage::Cluster),
            check_1_answers(region_labels("r2"), &["x", "y"]),
        );
        assert_eq!(
            (c.status, c.detail.as_str()),
            (Status::Pass, "r1: 2/2; r2: 2/2")
        );
    }

    #[test]
    fn check_1_fails_on_a_missing_a_duplicated_or_a_mislabelled_series() {
        let e = lab(Storage::Cluster);
        let c = run(1, &e, check_1_answers(region_labels("r2"), &["x"]));
        assert_eq!(
            (c.status, c.detail.as_str()),
            (Status::Fail, "r1: 2/2; r2: 1/2, 1 missing (e.g. y{})")
        );
        let c = run(
            1,
            &e,
            check_1_answers(region_labels("r2"), &["x", "y", "y"]),
        );
        assert_eq!(
            (c.status, c.detail.as_str()),
            (Status::Fail, "r1: 2/2; r2: 2/2, 1 duplicated")
        );
        let mut wrong = region_labels("r2");
        wrong["availability_zone"] = json!("r1a");
        let c = run(1, &e, check_1_answers(wrong, &["x", "y"]));
        assert_eq!(c.status, Status::Fail);
        assert!(
            c.detail.contains("2 series with wrong labels"),
            "{}",
            c.detail
        );
    }

    fn writer_labels(instance: &str) -> serde_json::Value {
        json!({"instance": instance, "job": "mock-exporter", "cluster": "staging",
               "environment": "staging"})
    }

    fn check_2_answers(receiver_instance: &str) -> Answers {
        vec![
            (
                vec!["http://rx/api/v1/series", "cluster=\"staging\""],
                stored(writer_labels(receiver_instance), &["x", "y"]),
            ),
            (
                vec![VM, "/api/v1/series", "cluster=\"staging\""],
                stored(writer_labels("exp:2112"), &["x", "y"]),
            ),
        ]
    }

    #[test]
    fn check_2_passes_when_both_stores_hold_the_writers_series() {
        let c = run(2, &lab(Storage::Cluster), check_2_answers("exp:2112"));
        assert_eq!(
            (c.status, c.detail.as_str()),
            (Status::Pass, "receiver: 2/2; VictoriaMetrics: 2/2")
        );
    }

    #[test]
    fn check_2_fails_when_the_receiver_holds_another_instances_series_only() {
        let c = run(2, &lab(Storage::Cluster), check_2_answers("exp:3112"));
        assert_eq!(c.status, Status::Fail);
        assert!(
            c.detail.starts_with(
                "receiver: 0/2, 2 missing (e.g. x{a=\"1\"}) (2 series of other instances ignored"
            ),
            "{}",
            c.detail
        );
    }

    /// An `/api/v1/export` answer: two hosts per region, the newest sample `age` seconds old.
    fn newest(ages: &[(&str, f64)]) -> Answers {
        let lines: Vec<String> = ages
            .iter()
            .flat_map(|(r, age)| {
                let newest = ((NOW - age) * 1000.0) as i64;
                [
                    json!({"metric": {"region": r, "host": "a"}, "values": [1, 1], "timestamps": [newest - 4000, newest]}),
                    json!({"metric": {"region": r, "host": "b"}, "values": [1], "timestamps": [newest - 1000]}),
                ]
            })
            .map(|l| l.to_string())
            .collect();
        vec![(
            vec![VM, "/api/v1/export", "node_memory_MemTotal_bytes"],
            lines.join("\n"),
        )]
    }

    const CLUSTER_BUDGET: &str = "7.22s = 2s scrape + 1s vmagent flush + 0.22s vminsert buffer + 2s storage flush + 2s margin";

    #[test]
    fn check_3_passes_when_every_region_is_within_the_budget() {
        let c = run(
            3,
            &lab(Storage::Cluster),
            newest(&[("r1", 1.0), ("r2", 6.0)]),
        );
        assert_eq!(c.status, Status::Pass, "{}", c.detail);
        assert_eq!(
            c.detail,
            format!("r1 1.0s, r2 6.0s (limit {CLUSTER_BUDGET}; raw samples via /api/v1/export)")
        );
    }

    #[test]
    fn check_3_fails_naming_a_stale_or_a_silent_region() {
        let e = lab(Storage::Cluster);
        let c = run(3, &e, newest(&[("r1", 1.0), ("r2", 10.0)]));
        assert_eq!(c.status, Status::Fail);
        assert!(
            c.detail
                .starts_with("stale: r2; r1 1.0s, r2 10.0s STALE (limit 7.22s"),
            "{}",
            c.detail
        );
        let c = run(3, &e, newest(&[("r2", 1.0)]));
        assert_eq!(c.status, Status::Fail);
        assert!(
            c.detail
                .starts_with("stale: r1; r1 no sample in the last 60s, r2 1.0s"),
            "{}",
            c.detail
        );
    }

    #[test]
    fn check_3_single_node_has_no_vminsert_hop() {
        let c = run(
            3,
            &lab(Storage::Single),
            newest(&[("r1", 7.1), ("r2", 1.0)]),
        );
        assert_eq!(c.status, Status::Fail);
        assert!(c.detail.contains("(limit 7s = "), "{}", c.detail);
    }

    #[test]
    fn check_3_refuses_an_answer_that_is_not_an_export() {
        let answers = vec![(
            vec![VM, "/api/v1/export"],
            "unsupported path requested".to_string(),
        )];
        let c = run(3, &lab(Storage::Cluster), answers);
        assert_eq!(c.status, Status::Fail);
        assert!(
            c.detail.contains("not an export answer: unsupported path"),
            "{}",
            c.detail
        );
    }

    fn check_4_answers(r2_page: &str, ins_2_rows: f64) -> Answers {
        let sent = |i: &str| {
            format!("vmagent_remotewrite_requests_total{{url=\"1:http://{i}/insert/0/prometheus/api/v1/write\",status_code=\"2XX\"}} 5\n")
        };
        vec![
            (vec!["http://agent-r1/metrics"], sent("ins-1")),
            (vec!["http://agent-r2/metrics"], sent("ins-2") + r2_page),
            (
                vec!["http://ins-1/metrics"],
                "vm_rows_inserted_total{type=\"promremotewrite\"} 100\n".into(),
            ),
            (
                vec!["http://ins-2/metrics"],
                format!("vm_rows_inserted_total{{type=\"promremotewrite\"}} {ins_2_rows}\n"),
            ),
        ]
    }

    #[test]
    fn check_4_passes_when_each_vmagent_writes_to_its_vminsert_only() {
        let c = run(4, &lab(Storage::Cluster), check_4_answers("", 100.0));
        assert_eq!(c.status, Status::Pass, "{}", c.detail);
        assert_eq!(
            c.detail,
            "r1 → http://ins-1/insert/0/prometheus/api/v1/write (5 ok requests); \
             r2 → http://ins-2/insert/0/prometheus/api/v1/write (5 ok requests); \
             ins-1 accepted 100 rows; ins-2 accepted 100 rows"
        );
    }

    #[test]
    fn check_4_fails_on_a_write_elsewhere_or_a_vminsert_without_rows() {
        let e = lab(Storage::Cluster);
        let stray = "vmagent_remotewrite_requests_total{url=\"2:http://ins-1/insert/0/prometheus/api/v1/write\",status_code=\"5XX\"} 1\n";
        let c = run(4, &e, check_4_answers(stray, 100.0));
        assert_eq!(c.status, Status::Fail);
        assert!(
            c.detail.contains("and also to [\"http://ins-1/"),
            "{}",
            c.detail
        );
        let c = run(4, &e, check_4_answers("", 0.0));
        assert_eq!(c.status, Status::Fail);
        assert!(c.detail.ends_with("ins-2 accepted 0 rows"), "{}", c.detail);
    }

    fn check_5_answers(sel_2_path: &str) -> Answers {
        let served = |path: &str| {
            format!("vm_http_requests_total{{path=\"{path}\"}} 3\nvm_http_requests_total{{path=\"/metrics\"}} 9\n")
        };
        vec![
            (
                vec![VM, "/api/v1/query", "vector(1)"],
                success(
                    json!({"resultType": "vector", "result": [{"metric": {}, "value": [NOW, "1"]}]}),
                ),
            ),
            (
                vec!["http://st-1/metrics"],
                "vm_rows_added_to_storage_total 10\n".into(),
            ),
            (
                vec!["http://st-2/metrics"],
                "vm_rows_added_to_storage_total 12\n".into(),
            ),
            (
                vec!["http://sel-1/metrics"],
                served("/select/0/prometheus/api/v1/query"),
            ),
            (vec!["http://sel-2/metrics"], served(sel_2_path)),
        ]
    }

    #[test]
    fn check_5_passes_when_both_nodes_hold_rows_and_both_vmselects_serve() {
        let c = run(
            5,
            &lab(Storage::Cluster),
            check_5_answers("/select/0/prometheus/api/v1/series"),
        );
        assert_eq!(
            (c.status, c.detail.as_str()),
            (
                Status::Pass,
                "st-1 10 rows; st-2 12 rows; sel-1 served 3 requests; sel-2 served 3 requests"
            )
        );
    }

    #[test]
    fn check_5_fails_when_a_vmselect_served_no_query_and_skips_single_node() {
        let c = run(5, &lab(Storage::Cluster), check_5_answers("/health"));
        assert_eq!(c.status, Status::Fail);
        assert!(
            c.detail.ends_with("sel-2 served 0 requests"),
            "{}",
            c.detail
        );
        let c = run(5, &lab(Storage::Single), Vec::new());
        assert_eq!(c.status, Status::Skip);
        assert!(c.detail.starts_with("single-node storage"), "{}", c.detail);
    }

    fn last(value: &str) -> String {
        success(json!({"resultType": "matrix", "result": [
            {"metric": {}, "values": [[NOW - 8.0, "1"], [NOW - 6.0, value]]}
        ]}))
    }

    fn check_6_answers(receiver_y: &str) -> Answers {
        vec![
            (vec![VM, "/api/v1/query", "__name__=\"x\""], last("3")),
            (vec![VM, "/api/v1/query", "__name__=\"y\""], last("2")),
            (vec!["http://rx/api/v1/query", "__name__=\"x\""], last("3")),
            (
                vec!["http://rx/api/v1/query", "__name__=\"y\""],
                last(receiver_y),
            ),
        ]
    }

    #[test]
    fn check_6_passes_when_both_stores_return_the_same_last_samples() {
        let c = run(6, &lab(Storage::Cluster), check_6_answers("2"));
        assert_eq!(
            (c.status, c.detail.as_str()),
            (
                Status::Pass,
                "2 sampled series identical at t=1699999994 (now - 5.22s = 1s writer batch + 0.22s vminsert buffer + 2s storage flush + 2s margin)"
            )
        );
    }

    #[test]
    fn check_6_fails_when_a_value_differs() {
        let c = run(6, &lab(Storage::Cluster), check_6_answers("2.5"));
        assert_eq!(c.status, Status::Fail);
        assert!(c.detail.contains("1 differ, e.g. y{}: VictoriaMetrics Some((1699999994.0, \"2\")), receiver Some((1699999994.0, \"2.5\"))"), "{}", c.detail);
    }

    /// An instant-query answer: `up` of each component, with extra labels.
    fn up(components: &[&str], extra: serde_json::Value) -> String {
        let result: Vec<serde_json::Value> = components
            .iter()
            .map(|c| {
                let mut m = json!({"__name__": "up", "job": "lab", "component": c});
                for (k, v) in extra.as_object().unwrap() {
                    m[k] = v.clone();
                }
                json!({"metric": m, "value": [NOW, "1"]})
            })
            .collect();
        success(json!({"resultType": "vector", "result": result}))
    }

    fn check_7_answers(at_writer: &[&str]) -> Answers {
        vec![
            (
                vec!["http://rx/api/v1/query", "job=\"lab\""],
                up(&["vmauth", "prometheus-writer"], json!({})),
            ),
            (
                vec!["http://wr/api/v1/query", "job=\"lab\""],
                // The receiver's read endpoint adds its external labels.
                up(at_writer, json!({"cluster": "monitoring-cluster"})),
            ),
        ]
    }

    #[test]
    fn check_7_passes_when_the_writer_answers_with_the_receivers_series() {
        let c = run(
            7,
            &lab(Storage::Cluster),
            check_7_answers(&["prometheus-writer", "vmauth"]),
        );
        assert_eq!(
            (c.status, c.detail.as_str()),
            (
                Status::Pass,
                "up{job=\"lab\"} at the writer (http://wr): 2/2 of the receiver's series, read from http://rx/api/v1/read"
            )
        );
    }

    #[test]
    fn check_7_fails_when_the_writer_does_not_read_from_the_receiver() {
        let e = lab(Storage::Cluster);
        let c = run(7, &e, check_7_answers(&[]));
        assert_eq!(c.status, Status::Fail);
        assert!(
            c.detail
                .ends_with("0/2 of the receiver's series, read from http://rx/api/v1/read; 2 missing (e.g. component \"prometheus-writer\")"),
            "{}",
            c.detail
        );
        let c = run(7, &e, check_7_answers(&["vmauth"]));
        assert_eq!(c.status, Status::Fail);
        // Nothing at the receiver proves nothing.
        let answers = vec![
            (vec!["http://rx/api/v1/query"], up(&[], json!({}))),
            (vec!["http://wr/api/v1/query"], up(&[], json!({}))),
        ];
        assert_eq!(run(7, &e, answers).status, Status::Fail);
    }

    fn rules(names: &[&str], error: &str) -> String {
        let rules: Vec<serde_json::Value> = names
            .iter()
            .map(|n| json!({"name": n, "type": "alerting", "health": "ok", "lastError": error}))
            .collect();
        success(json!({"groups": [{"name": "meta", "file": "/r/watchdog.yml", "rules": rules}]}))
    }

    fn received(evaluators: &[&str]) -> String {
        let alerts: Vec<serde_json::Value> = evaluators
            .iter()
            .map(|e| json!({
                "labels": {"alertname": "Watchdog", "evaluator": e, "severity": "none"},
                "annotations": {}, "startsAt": "2023-11-14T22:13:20Z", "endsAt": "2023-11-14T22:17:20Z",
                "status": {"state": "active", "silencedBy": [], "inhibitedBy": []},
                "receivers": [{"name": "lab"}], "fingerprint": "1", "updatedAt": "2023-11-14T22:13:20Z",
            }))
            .collect();
        serde_json::Value::from(alerts).to_string()
    }

    fn alerting_answers(vmalert_error: &str, am: &[&str]) -> Answers {
        vec![
            (
                vec!["http://vmalert/api/v1/rules"],
                rules(&["Watchdog", "TargetDown"], vmalert_error),
            ),
            (
                vec!["http://rx/api/v1/rules"],
                rules(&["Watchdog", "TargetDown"], ""),
            ),
            (vec!["http://am/api/v2/alerts"], received(am)),
        ]
    }

    fn alerting(answers: Answers) -> Check {
        let e = lab(Storage::Cluster);
        let client = Client::with_transport(Recorded(answers));
        let cx = Context::new(&e, &client, Clock::Fixed(NOW));
        let def = CHECKS
            .iter()
            .find(|c| c.name.contains(WATCHDOG))
            .expect("the alerting check is listed");
        def.check(&cx)
    }

    #[test]
    fn check_alerting_passes_when_rules_load_and_watchdog_arrives_from_both() {
        let c = alerting(alerting_answers("", &["vmalert", "prometheus-receiver"]));
        assert_eq!(
            (c.status, c.detail.as_str()),
            (
                Status::Pass,
                "vmalert: 2 rules in 1 groups; prometheus-receiver: 2 rules in 1 groups; \
                 Alertmanager holds Watchdog from both"
            )
        );
    }

    #[test]
    fn check_alerting_fails_on_a_rule_error_or_a_missing_evaluator() {
        let c = alerting(alerting_answers(
            "cannot parse",
            &["vmalert", "prometheus-receiver"],
        ));
        assert_eq!(c.status, Status::Fail);
        assert!(
            c.detail.starts_with(
                "vmalert: 2 rules in 1 groups, 2 failing (e.g. Watchdog: cannot parse)"
            ),
            "{}",
            c.detail
        );
        let c = alerting(alerting_answers("", &["prometheus-receiver"]));
        assert_eq!(c.status, Status::Fail);
        assert!(
            c.detail
                .ends_with("Alertmanager lacks Watchdog from vmalert (1 alerts held)"),
            "{}",
            c.detail
        );
    }

    #[test]
    fn check_alerting_fails_when_the_evaluators_load_different_rules() {
        let mut answers = alerting_answers("", &["vmalert", "prometheus-receiver"]);
        answers[1].1 = rules(&["Watchdog"], "");
        let c = alerting(answers);
        assert_eq!(c.status, Status::Fail);
        assert!(c.detail.contains("different rule sets"), "{}", c.detail);
    }

    #[test]
    fn every_check_fails_with_the_cause_when_the_lab_is_not_there() {
        let e = lab(Storage::Cluster);
        let client = Client::with_transport(Recorded(Vec::new()));
        let cx = Context::new(&e, &client, Clock::Fixed(NOW));
        for c in super::super::run_checks(&cx) {
            assert_eq!(c.status, Status::Fail, "check {}", c.id);
            assert!(
                c.detail.contains("connection refused"),
                "check {}: {}",
                c.id,
                c.detail
            );
        }
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
