//! The same queries against the Prometheus receiver and VictoriaMetrics, side by side.
//!
//! Both hold the writer's samples (it remote-writes to each), so a range query over the writer's
//! series should agree point for point on raw samples; where it does not (MetricsQL's `rate`
//! does not extrapolate to the window's edges, PromQL's does) the difference is the finding.
//! The query set is `docs/examples/queries.md`: fenced blocks whose info string is
//! `promql compare` are compared; every `promql` block is an example the docs test runs.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::lab::endpoints::Endpoint;
use crate::lab::query::{Client, RangeSeries};
use crate::scrape::series_id;

/// A query from the examples.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Query {
    /// The heading above it.
    pub name: String,
    pub expr: String,
    /// Marked `promql compare`: run against both backends.
    pub compare: bool,
}

/// Every `promql` block of a Markdown file, named by the nearest heading above it.
pub fn parse_queries(markdown: &str) -> Vec<Query> {
    let mut out = Vec::new();
    let mut heading = String::new();
    let mut block: Option<(bool, Vec<&str>)> = None;
    for line in markdown.lines() {
        if let Some((compare, lines)) = &mut block {
            if line.trim_start().starts_with("```") {
                out.push(Query {
                    name: heading.clone(),
                    expr: lines.join("\n").trim().to_string(),
                    compare: *compare,
                });
                block = None;
            } else {
                lines.push(line);
            }
            continue;
        }
        if let Some(h) = line
            .strip_prefix("## ")
            .or_else(|| line.strip_prefix("### "))
        {
            heading = h.trim().to_string();
        } else if let Some(info) = line.trim_start().strip_prefix("```") {
            let words: Vec<&str> = info.split_whitespace().collect();
            if words.first() == Some(&"promql") {
                block = Some((words.contains(&"compare"), Vec::new()));
            }
        }
    }
    out
}

/// A Prometheus-compatible query endpoint, by name.
#[derive(Debug, Clone, Serialize)]
pub struct Backend {
    pub name: String,
    pub endpoint: Endpoint,
}

/// Query latency on one backend.
#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    pub backend: String,
    pub p50_ms: f64,
    pub p95_ms: f64,
}

/// How the two backends answered one query.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub name: String,
    pub expr: String,
    /// Series each backend returned, and those present in both.
    pub series: [usize; 2],
    pub matched: usize,
    /// Points compared (same series, same timestamp) and those differing beyond the tolerance.
    pub points: usize,
    pub differing: usize,
    pub max_relative_difference: f64,
    pub latency: Vec<Latency>,
    pub error: Option<String>,
}

/// The range a comparison covers.
#[derive(Debug, Clone, Copy)]
pub struct Range {
    pub start: f64,
    pub end: f64,
    pub step: Duration,
}

type Matrix = BTreeMap<String, BTreeMap<i64, f64>>;

fn matrix(data: Vec<RangeSeries>) -> Matrix {
    let mut out = Matrix::new();
    for mut s in data {
        let name = s.metric.remove("__name__").unwrap_or_default();
        let points = s
            .values
            .iter()
            .filter_map(|p| Some(((p.time() * 1000.0).round() as i64, p.value()?)))
            .collect();
        out.insert(series_id(&name, &s.metric), points);
    }
    out
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[(((sorted.len() - 1) as f64) * q).round() as usize]
}

/// Runs `q` over `range` on both backends `repeat` times, alternating, and compares the answers.
pub fn compare(
    q: &Query,
    backends: &[Backend; 2],
    range: Range,
    repeat: usize,
    tolerance: f64,
) -> Comparison {
    let client = Client::new();
    let params = [
        ("query", q.expr.clone()),
        ("start", format!("{:.3}", range.start)),
        ("end", format!("{:.3}", range.end)),
        ("step", format!("{}s", range.step.as_secs().max(1))),
        ("nocache", "1".to_string()),
    ];
    let mut times: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    let mut answers: [Option<Matrix>; 2] = [None, None];
    let mut error = None;
    for _ in 0..repeat.max(1) {
        for (i, b) in backends.iter().enumerate() {
            let t = Instant::now();
            match client.query_range(&b.endpoint, &params) {
                Ok(data) => {
                    times[i].push(t.elapsed().as_secs_f64() * 1000.0);
                    answers[i].get_or_insert_with(|| matrix(data.matrix()));
                }
                Err(e) => error = Some(format!("{}: {e:#}", b.name)),
            }
        }
    }
    let empty = Matrix::new();
    let (a, b) = (
        answers[0].as_ref().unwrap_or(&empty),
        answers[1].as_ref().unwrap_or(&empty),
    );
    let (mut matched, mut points, mut differing, mut max_rel) = (0, 0, 0, 0.0f64);
    for (id, pa) in a {
        let Some(pb) = b.get(id) else { continue };
        matched += 1;
        for (t, va) in pa {
            let Some(vb) = pb.get(t) else { continue };
            points += 1;
            let scale = va.abs().max(vb.abs());
            let rel = if scale == 0.0 {
                0.0
            } else {
                (va - vb).abs() / scale
            };
            max_rel = max_rel.max(rel);
            if rel > tolerance {
                differing += 1;
            }
        }
    }
    let latency = backends
        .iter()
        .zip(times.iter_mut())
        .map(|(b, t)| {
            t.sort_by(|x, y| x.partial_cmp(y).unwrap_or(std::cmp::Ordering::Equal));
            Latency {
                backend: b.name.clone(),
                p50_ms: quantile(t, 0.5),
                p95_ms: quantile(t, 0.95),
            }
        })
        .collect();
    Comparison {
        name: q.name.clone(),
        expr: q.expr.clone(),
        series: [a.len(), b.len()],
        matched,
        points,
        differing,
        max_relative_difference: max_rel,
        latency,
        error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_queries_names_blocks_by_heading_and_marks_comparisons() {
        let md = "# Q\n\n## Raw\n\ntext\n\n```promql compare\nup{a=\"b\"}\n```\n\n## Rate\n\n```promql\nrate(x[1m])\n```\n\n```sh\nnot a query\n```\n";
        assert_eq!(
            parse_queries(md),
            [
                Query {
                    name: "Raw".into(),
                    expr: "up{a=\"b\"}".into(),
                    compare: true
                },
                Query {
                    name: "Rate".into(),
                    expr: "rate(x[1m])".into(),
                    compare: false
                }
            ]
        );
    }

    #[test]
    fn matrix_keys_series_by_sorted_labels() {
        let data: Vec<RangeSeries> = serde_json::from_str(
            r#"[{"metric":{"__name__":"x","b":"2","a":"1"},"values":[[1.5,"3"],[3,"4"]]}]"#,
        )
        .unwrap();
        let m = matrix(data);
        assert_eq!(
            m["x{a=\"1\",b=\"2\"}"],
            BTreeMap::from([(1500, 3.0), (3000, 4.0)])
        );
    }

    #[test]
    fn the_examples_file_has_queries_to_compare() {
        let md = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/docs/examples/queries.md"
        ))
        .unwrap();
        let q = parse_queries(&md);
        assert!(q.len() >= 10, "{}", q.len());
        assert!(q.iter().filter(|q| q.compare).count() >= 4);
        assert!(q.iter().all(|q| !q.name.is_empty() && !q.expr.is_empty()));
    }
}
