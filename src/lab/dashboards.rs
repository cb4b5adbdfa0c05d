//! The lab's Grafana dashboards, read as data: every panel target, checked against a live lab.
//!
//! A dashboard is "done" only when each of its queries returns data, so [`check`] substitutes the
//! template variables (each region in turn, with that region's cluster and environment), runs
//! every target through the datasource its panel names (by uid), and reports the ones that fail
//! or come back empty. [`validate`] holds the rules the provisioning relies on: a unique `uid` per
//! dashboard and datasources referred to by uid, never by name.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use serde::Serialize;
use serde_json::Value;

use crate::lab::endpoints::Endpoint;
use crate::lab::query::Client;
use crate::lab::victoria::Storage;

/// A dashboard file and its JSON.
#[derive(Debug, Clone)]
pub struct Dashboard {
    pub path: PathBuf,
    pub json: Value,
}

impl Dashboard {
    pub fn uid(&self) -> &str {
        self.json["uid"].as_str().unwrap_or("")
    }

    pub fn title(&self) -> &str {
        self.json["title"].as_str().unwrap_or("")
    }
}

/// One query of one panel.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Target {
    pub dashboard: String,
    pub panel: String,
    pub ref_id: String,
    pub datasource: String,
    pub expr: String,
    /// A table or stat target evaluated at one instant rather than over a range.
    pub instant: bool,
    /// The panel shows what only the cluster has (vminsert, vmselect): its description ends
    /// with [`CLUSTER_ONLY`], so a single-node lab skips it instead of failing it.
    pub cluster_only: bool,
}

/// How a panel description marks a panel that only the cluster can fill.
pub const CLUSTER_ONLY: &str = "(cluster only)";

/// Reads every `*.json` of a folder, sorted by name.
pub fn load(dir: &Path) -> anyhow::Result<Vec<Dashboard>> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    if paths.is_empty() {
        bail!("no dashboards (*.json) in {}", dir.display());
    }
    paths
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            let json = serde_json::from_str(&text)
                .with_context(|| format!("{} is not JSON", path.display()))?;
            Ok(Dashboard { path, json })
        })
        .collect()
}

/// Every panel, rows' nested panels included.
fn panels(d: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    for p in d["panels"].as_array().into_iter().flatten() {
        if p["type"] == "row" {
            out.extend(p["panels"].as_array().into_iter().flatten());
        } else {
            out.push(p);
        }
    }
    out
}

/// Every query target of a dashboard.
pub fn targets(d: &Dashboard) -> Vec<Target> {
    let mut out = Vec::new();
    for p in panels(&d.json) {
        for t in p["targets"].as_array().into_iter().flatten() {
            let Some(expr) = t["expr"].as_str() else {
                continue;
            };
            let ds = t["datasource"]["uid"]
                .as_str()
                .or(p["datasource"]["uid"].as_str())
                .unwrap_or("");
            out.push(Target {
                dashboard: d.uid().to_string(),
                panel: p["title"].as_str().unwrap_or("").to_string(),
                ref_id: t["refId"].as_str().unwrap_or("").to_string(),
                datasource: ds.to_string(),
                expr: expr.to_string(),
                instant: t["instant"].as_bool().unwrap_or(false)
                    && !t["range"].as_bool().unwrap_or(false),
                cluster_only: p["description"]
                    .as_str()
                    .is_some_and(|d| d.trim_end().ends_with(CLUSTER_ONLY)),
            });
        }
    }
    out
}

/// The target `ref_id` of the panel titled `panel` of dashboard `uid`: how other views of the lab
/// (`labctl top`) reuse a panel's query instead of keeping a copy.
pub fn find_target(
    dashboards: &[Dashboard],
    uid: &str,
    panel: &str,
    ref_id: &str,
) -> Option<Target> {
    let d = dashboards.iter().find(|d| d.uid() == uid)?;
    targets(d)
        .into_iter()
        .find(|t| t.panel == panel && t.ref_id == ref_id)
}

/// Checks the rules provisioning relies on; returns every problem found.
pub fn validate(dashboards: &[Dashboard], datasource_uids: &[&str]) -> Vec<String> {
    let mut problems = Vec::new();
    let mut uids = BTreeSet::new();
    for d in dashboards {
        let file = d.path.display();
        if d.uid().is_empty() {
            problems.push(format!("{file}: no uid"));
        } else if !uids.insert(d.uid().to_string()) {
            problems.push(format!("{file}: uid {} is used twice", d.uid()));
        }
        if d.title().is_empty() {
            problems.push(format!("{file}: no title"));
        }
        let mut refs: Vec<(String, &Value)> = Vec::new();
        for v in d.json["templating"]["list"]
            .as_array()
            .into_iter()
            .flatten()
        {
            refs.push((format!("variable {}", v["name"]), &v["datasource"]));
        }
        for p in panels(&d.json) {
            refs.push((format!("panel {}", p["title"]), &p["datasource"]));
            for t in p["targets"].as_array().into_iter().flatten() {
                if !t["datasource"].is_null() {
                    refs.push((
                        format!("panel {} target {}", p["title"], t["refId"]),
                        &t["datasource"],
                    ));
                }
            }
            if p["targets"].as_array().is_none_or(|t| t.is_empty()) {
                problems.push(format!("{file}: panel {} has no targets", p["title"]));
            }
        }
        for (what, ds) in refs {
            match ds["uid"].as_str() {
                Some(uid) if datasource_uids.contains(&uid) => {}
                Some(uid) => problems.push(format!(
                    "{file}: {what} uses unknown datasource uid {uid:?}"
                )),
                None => problems.push(format!(
                    "{file}: {what} must name its datasource by uid, not {ds}"
                )),
            }
        }
    }
    problems
}

/// The values of the template variables for one pass over the dashboards.
#[derive(Debug, Clone)]
pub struct Vars {
    pub region: String,
    pub cluster: String,
    pub environment: String,
    /// What `$__rate_interval` and `$__interval` stand for.
    pub rate_interval: Duration,
    pub interval: Duration,
}

fn secs(d: Duration) -> String {
    format!("{}s", d.as_secs().max(1))
}

/// Replaces `$name`, `${name}` and Grafana's built-ins in a query.
pub fn substitute(expr: &str, v: &Vars) -> String {
    let pairs = [
        ("__rate_interval", secs(v.rate_interval)),
        ("__interval", secs(v.interval)),
        ("__range", "5m".to_string()),
        ("environment", v.environment.clone()),
        ("cluster", v.cluster.clone()),
        ("region", v.region.clone()),
    ];
    let mut out = expr.to_string();
    for (name, value) in &pairs {
        out = out
            .replace(&format!("${{{name}}}"), value)
            .replace(&format!("${name}"), value);
    }
    out
}

/// Whether a query depends on the per-region variables.
fn uses_region_vars(expr: &str) -> bool {
    [
        "$region",
        "${region}",
        "$cluster",
        "${cluster}",
        "$environment",
        "${environment}",
    ]
    .iter()
    .any(|v| expr.contains(v))
}

/// The outcome of one target with one set of variables.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub target: Target,
    /// The region substituted, or empty when the query does not depend on it.
    pub region: String,
    pub query: String,
    pub series: usize,
    pub error: Option<String>,
    /// Not run: a cluster-only panel on a single-node lab.
    pub skipped: bool,
}

impl Outcome {
    pub fn ok(&self) -> bool {
        self.skipped || (self.error.is_none() && self.series > 0)
    }
}

/// Runs every target of every dashboard, once per region where it depends on the region.
pub fn check(
    dashboards: &[Dashboard],
    datasources: &BTreeMap<String, Endpoint>,
    regions: &[Vars],
    storage: Storage,
) -> Vec<Outcome> {
    let client = Client::new();
    let mut out = Vec::new();
    for d in dashboards {
        for t in targets(d) {
            if t.cluster_only && storage == Storage::Single {
                out.push(Outcome {
                    query: t.expr.clone(),
                    target: t,
                    region: String::new(),
                    series: 0,
                    error: None,
                    skipped: true,
                });
                continue;
            }
            let passes: Vec<&Vars> = if uses_region_vars(&t.expr) {
                regions.iter().collect()
            } else {
                regions.iter().take(1).collect()
            };
            for v in passes {
                let query = substitute(&t.expr, v);
                let region = if uses_region_vars(&t.expr) {
                    v.region.clone()
                } else {
                    String::new()
                };
                let result = match datasources.get(&t.datasource) {
                    None => Err(anyhow::anyhow!("unknown datasource uid {:?}", t.datasource)),
                    Some(ds) => run(&client, ds, &query, t.instant, v.interval),
                };
                let (series, error) = match result {
                    Ok(n) => (n, None),
                    Err(e) => (0, Some(format!("{e:#}"))),
                };
                out.push(Outcome {
                    target: t.clone(),
                    region,
                    query,
                    series,
                    error,
                    skipped: false,
                });
            }
        }
    }
    out
}

/// Runs a query the way the panel does (instant, or over the last five minutes) and counts series.
fn run(
    client: &Client,
    ds: &Endpoint,
    query: &str,
    instant: bool,
    step: Duration,
) -> anyhow::Result<usize> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let data = if instant {
        client.query(
            ds,
            &[("query", query.to_string()), ("time", now.to_string())],
        )?
    } else {
        client.query_range(
            ds,
            &[
                ("query", query.to_string()),
                ("start", (now - 300).to_string()),
                ("end", now.to_string()),
                ("step", secs(step)),
            ],
        )?
    };
    Ok(data.series())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn dash(json: Value) -> Dashboard {
        Dashboard {
            path: "d.json".into(),
            json,
        }
    }

    #[test]
    fn substitute_replaces_variables_and_builtins() {
        let v = Vars {
            region: "eu-west-1".into(),
            cluster: "prod-eu".into(),
            environment: "production".into(),
            rate_interval: Duration::from_secs(60),
            interval: Duration::from_secs(15),
        };
        assert_eq!(
            substitute("rate(x{region=~\"$region\",cluster=~\"${cluster}\",environment=~\"$environment\"}[$__rate_interval])", &v),
            "rate(x{region=~\"eu-west-1\",cluster=~\"prod-eu\",environment=~\"production\"}[60s])"
        );
    }

    #[test]
    fn targets_walks_rows_and_inherits_the_panel_datasource() {
        let d = dash(json!({"uid": "u", "title": "t", "panels": [
            {"type": "row", "title": "r", "panels": [
                {"type": "timeseries", "title": "p", "datasource": {"uid": "victoriametrics"},
                 "targets": [{"refId": "A", "expr": "up"}]}]},
            {"type": "table", "title": "q", "datasource": {"uid": "prometheus-receiver"},
             "targets": [{"refId": "A", "expr": "x", "instant": true, "datasource": {"uid": "prometheus-receiver"}}]}
        ]}));
        let t = targets(&d);
        assert_eq!(t.len(), 2);
        assert_eq!(
            (t[0].datasource.as_str(), t[0].instant),
            ("victoriametrics", false)
        );
        assert_eq!(
            (t[1].datasource.as_str(), t[1].instant),
            ("prometheus-receiver", true)
        );
    }

    #[test]
    fn check_skips_cluster_only_panels_on_a_single_node_lab() {
        let d = dash(json!({"uid": "u", "title": "t", "panels": [
            {"type": "timeseries", "title": "Rerouted", "description": "Rows rerouted (cluster only)",
             "datasource": {"uid": "victoriametrics"}, "targets": [{"refId": "A", "expr": "vm_rpc_x"}]},
            {"type": "timeseries", "title": "Rows", "description": "Rows, cluster or not",
             "datasource": {"uid": "victoriametrics"}, "targets": [{"refId": "A", "expr": "vm_rows"}]}
        ]}));
        let t = targets(&d);
        assert_eq!((t[0].cluster_only, t[1].cluster_only), (true, false));
        // No datasource is reachable: the one query that runs fails, the skipped one does not.
        let v = Vars {
            region: "r".into(),
            cluster: "c".into(),
            environment: "e".into(),
            rate_interval: Duration::from_secs(60),
            interval: Duration::from_secs(15),
        };
        let out = check(&[d], &BTreeMap::new(), &[v], Storage::Single);
        assert_eq!(out.len(), 2);
        assert!(out[0].skipped && out[0].ok());
        assert!(!out[1].skipped && !out[1].ok());
    }

    #[test]
    fn find_target_picks_a_panel_query_by_title_and_ref_id() {
        let d = dash(json!({"uid": "u", "title": "t", "panels": [
            {"type": "timeseries", "title": "Shards", "datasource": {"uid": "prometheus-receiver"},
             "targets": [{"refId": "A", "expr": "a"}, {"refId": "B", "expr": "b"}]}
        ]}));
        let ds = [d];
        assert_eq!(find_target(&ds, "u", "Shards", "B").unwrap().expr, "b");
        assert!(find_target(&ds, "u", "Shards", "C").is_none());
        assert!(find_target(&ds, "v", "Shards", "A").is_none());
    }

    #[test]
    fn validate_rejects_names_unknown_uids_and_duplicates() {
        let a = dash(json!({"uid": "u", "title": "t", "panels": [
            {"type": "timeseries", "title": "p", "datasource": "VictoriaMetrics", "targets": [{"refId": "A", "expr": "up"}]},
            {"type": "timeseries", "title": "q", "datasource": {"uid": "nope"}, "targets": [{"refId": "A", "expr": "up"}]}
        ]}));
        let problems = validate(&[a.clone(), a], &["victoriametrics"]);
        assert!(
            problems
                .iter()
                .any(|p| p.contains("must name its datasource by uid")),
            "{problems:?}"
        );
        assert!(
            problems
                .iter()
                .any(|p| p.contains("unknown datasource uid \"nope\"")),
            "{problems:?}"
        );
        assert!(
            problems.iter().any(|p| p.contains("used twice")),
            "{problems:?}"
        );
    }

    #[test]
    fn validate_accepts_the_lab_dashboards() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("grafana/dashboards");
        let d = load(&dir).unwrap();
        assert_eq!(d.len(), 4);
        assert_eq!(
            validate(&d, &["victoriametrics", "prometheus-receiver"]),
            Vec::<String>::new()
        );
        for x in &d {
            assert!(targets(x).iter().all(|t| !t.expr.contains("[5m]")
                || t.instant
                || t.expr.contains("$__rate_interval")));
            assert!(!targets(x).is_empty());
        }
    }
}
