//! Whether a store holds one scraper's copy of the exporter's series, exactly, at any scale.
//!
//! Up to [`LIST_LIMIT`] series the store lists them (`/api/v1/series`) and every series is
//! compared with the exporter's page. Above it, listing 100,000 series per scraper would cost
//! more than the lab it checks, so the store counts them instead: one `count by (__name__, …)`
//! query per scraper gives, per metric name, how many series it holds and with which of the
//! lab's labels, compared with the page's count per name; then one host's series are listed
//! and compared one by one, so label values are still checked exactly on a sample.
//!
//! When hosts churn (`[exporter] churn_interval`), the selector keeps to the hosts on the
//! exporter's page now, so that hosts churned away are neither counted nor called unexpected.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use super::Context;
use crate::lab::endpoints::Endpoint;
use crate::lab::query::Labels;
use crate::lab::render::ADDED_LABELS;
use crate::scrape;

/// Above this many series per scraper, series are counted per metric name, not listed.
pub const LIST_LIMIT: usize = 5_000;

/// What the exporter's page says one scraper must find.
pub struct Expected {
    /// Series ids (`name{labels}`), the exporter's own labels only.
    ids: BTreeSet<String>,
    /// Series per metric name.
    per_name: BTreeMap<String, usize>,
    /// The `host` label values on the page, sorted (none below `--scale 2`).
    hosts: Vec<String>,
}

impl Expected {
    pub fn from_page(page: &[scrape::Series]) -> Expected {
        let mut per_name: BTreeMap<String, usize> = BTreeMap::new();
        let mut hosts = BTreeSet::new();
        for s in page {
            *per_name.entry(s.name.clone()).or_default() += 1;
            if let Some(h) = s.labels.get("host") {
                hosts.insert(h.clone());
            }
        }
        Expected {
            ids: page.iter().map(scrape::Series::id).collect(),
            per_name,
            hosts: hosts.into_iter().collect(),
        }
    }

    fn series(&self) -> usize {
        self.ids.len()
    }

    /// `,host=~"h1|h2|…"` when hosts churn (mock-exporter names a replaced host
    /// `host-NNNN-gGENERATION`): the current fleet only. Without churn every host stored is on
    /// the page and the selector stays short at any scale; with it, the list grows by about ten
    /// bytes a host, within VictoriaMetrics' 16 KiB `-search.maxQueryLen` up to about 1,500.
    fn host_matcher(&self) -> String {
        if !self.hosts.iter().any(|h| h.contains("-g")) {
            return String::new();
        }
        let alts: Vec<String> = self.hosts.iter().map(|h| regex_quote(h)).collect();
        format!(",host=~\"{}\"", alts.join("|"))
    }
}

/// A RE2 literal for `s`, as a PromQL string's content.
fn regex_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push_str("\\\\");
        }
        out.push_str(&promql_quote(c));
    }
    out
}

/// `c` inside a PromQL double-quoted string.
fn promql_quote(c: char) -> String {
    match c {
        '"' | '\\' => format!("\\{c}"),
        _ => c.to_string(),
    }
}

/// One scraper's copy of the page in `store`: the series `matchers` select (PromQL matchers
/// without braces, e.g. `job="mock-exporter",region="eu-west-1"`) carry the `required` label
/// values, and are the page's series exactly once. Returns (ok, evidence).
pub fn held(
    cx: &Context,
    expected: &Expected,
    store: &Endpoint,
    matchers: &str,
    required: &BTreeMap<&str, &str>,
) -> anyhow::Result<(bool, String)> {
    let matchers = format!("{matchers}{}", expected.host_matcher());
    if expected.series() <= cx.list_limit {
        let data = cx.client.series(store, &series_params(cx, &matchers))?;
        return Ok(listed(
            &data,
            &cx.exporter_instance(),
            required,
            &expected.ids,
        ));
    }
    let started = Instant::now();
    let (ok, counted) = counted(cx, expected, store, &matchers, required)?;
    // One host's series, listed: its label values checked one by one.
    let host = expected.hosts.first().map(String::as_str).unwrap_or("");
    let one: BTreeSet<String> = expected
        .ids
        .iter()
        .filter(|id| host.is_empty() || id.contains(&format!("host={host:?}")))
        .cloned()
        .collect();
    let quoted: String = host.chars().map(promql_quote).collect();
    let sample = format!("{matchers},host=\"{quoted}\"");
    let data = cx.client.series(store, &series_params(cx, &sample))?;
    let (sample_ok, sample_detail) = listed(&data, &cx.exporter_instance(), required, &one);
    Ok((
        ok && sample_ok,
        format!(
            "{counted}; {host} listed: {sample_detail} ({:.2}s for both)",
            started.elapsed().as_secs_f64()
        ),
    ))
}

/// `start`, `end` (the last 20 scrape intervals, at least 5 minutes) and `match[]`.
pub fn series_params(cx: &Context, matchers: &str) -> Vec<(&'static str, String)> {
    let window = (cx.endpoints.scrape_interval.as_secs_f64() * 20.0).max(300.0);
    let now = cx.clock.now();
    vec![
        ("start", format!("{:.3}", now - window)),
        ("end", format!("{:.3}", now)),
        ("match[]", format!("{{{matchers}}}")),
    ]
}

/// The series a store listed, compared one by one with `ids`.
fn listed(
    data: &[Labels],
    instance: &str,
    required: &BTreeMap<&str, &str>,
    ids: &BTreeSet<String>,
) -> (bool, String) {
    let st = stored_series(data, instance, required);
    let (same, mut d) = compare(ids, &st.ids);
    d += &others_note(&st.other_instances);
    if let Some(w) = st.wrong.first() {
        d += &format!("; {} series with wrong labels, e.g. {w}", st.wrong.len());
    }
    (same && st.wrong.is_empty(), d)
}

/// Series per metric name and label set, in one query, compared with the page's counts.
fn counted(
    cx: &Context,
    expected: &Expected,
    store: &Endpoint,
    matchers: &str,
    required: &BTreeMap<&str, &str>,
) -> anyhow::Result<(bool, String)> {
    let by: Vec<&str> = required.keys().copied().collect();
    let q = format!(
        "count by (__name__,{}) ({{{matchers},instance=\"{}\",__name__!~\"up|scrape_.+\"}})",
        by.join(","),
        cx.exporter_instance()
    );
    let answer = cx
        .client
        .query(store, &[("query", q), ("nocache", "1".into())])?
        .vector();
    let mut per_name: BTreeMap<String, usize> = BTreeMap::new();
    let mut wrong = 0usize;
    let mut wrong_example = None;
    for group in &answer {
        let n = group.value.value().unwrap_or(0.0) as usize;
        let name = group.metric.get("__name__").cloned().unwrap_or_default();
        let off = required
            .iter()
            .find(|(k, v)| group.metric.get(**k).map(String::as_str) != Some(**v));
        match off {
            Some((k, _)) => {
                wrong += n;
                wrong_example
                    .get_or_insert(format!("{name}{{…}} has {k}={:?}", group.metric.get(*k)));
            }
            None => *per_name.entry(name).or_default() += n,
        }
    }
    let (same, mut d) = compare_counts(&expected.per_name, &per_name);
    if let Some(w) = wrong_example {
        d += &format!("; {wrong} series with wrong labels, e.g. {w}");
    }
    Ok((same && wrong == 0, d))
}

/// "n/m series counted per name" and the first names whose count differs.
fn compare_counts(
    expected: &BTreeMap<String, usize>,
    got: &BTreeMap<String, usize>,
) -> (bool, String) {
    let want: usize = expected.values().sum();
    let mut matched = 0;
    let mut off = Vec::new();
    for (name, n) in expected {
        let g = got.get(name).copied().unwrap_or(0);
        matched += g.min(*n);
        if g != *n {
            off.push(format!("{name} {g}/{n}"));
        }
    }
    for (name, g) in got {
        if !expected.contains_key(name) {
            off.push(format!("{name} {g} unexpected"));
        }
    }
    let mut d = format!(
        "{matched}/{want} series counted in {} names",
        expected.len()
    );
    if !off.is_empty() {
        d += &format!(
            ", counts differ for {} (e.g. {})",
            if off.len() == 1 {
                "1 name".to_string()
            } else {
                format!("{} names", off.len())
            },
            off[..off.len().min(3)].join(", ")
        );
    }
    (off.is_empty(), d)
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

fn stored_series(data: &[Labels], instance: &str, required: &BTreeMap<&str, &str>) -> Stored {
    let mut out = Stored {
        ids: Vec::new(),
        wrong: Vec::new(),
        other_instances: BTreeMap::new(),
    };
    for labels in data {
        let mut labels = labels.clone();
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

/// " (N series of other instances ignored: …)" when there are any.
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn regex_quote_escapes_for_re2_then_for_the_promql_string() {
        assert_eq!(regex_quote("host-0001-g5"), "host-0001-g5");
        // RE2 wants \. and \\; the PromQL string doubles each backslash again.
        assert_eq!(regex_quote("a.b"), r"a\\.b");
        assert_eq!(regex_quote(r"a\b"), r"a\\\\b");
        assert_eq!(regex_quote("a\"b"), r#"a\"b"#);
    }

    #[test]
    fn host_matcher_only_when_hosts_churn() {
        let page = |hosts: &[&str]| {
            let series: Vec<scrape::Series> = hosts
                .iter()
                .map(|h| scrape::Series {
                    name: "x".into(),
                    labels: BTreeMap::from([("host".to_string(), h.to_string())]),
                    value: 1.0,
                })
                .collect();
            Expected::from_page(&series)
        };
        assert_eq!(page(&["host-0000", "host-0001"]).host_matcher(), "");
        assert_eq!(
            page(&["host-0000-g7", "host-0001"]).host_matcher(),
            r#",host=~"host-0000-g7|host-0001""#
        );
    }

    #[test]
    fn stored_series_keeps_the_exporter_instance_only() {
        let data: Vec<Labels> = serde_json::from_value(json!([
            {"__name__": "x_total", "instance": "127.0.0.1:2112", "job": "mock-exporter", "region": "r", "a": "1"},
            {"__name__": "x_total", "instance": "127.0.0.1:3112", "job": "mock-exporter", "region": "r", "a": "1"},
            {"__name__": "up", "instance": "127.0.0.1:2112", "job": "mock-exporter", "region": "r"},
            {"__name__": "y", "instance": "127.0.0.1:2112", "job": "other", "region": "r"}
        ]))
        .unwrap();
        let required = BTreeMap::from([("job", "mock-exporter")]);
        let st = stored_series(&data, "127.0.0.1:2112", &required);
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
}
