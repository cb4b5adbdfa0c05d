//! Reading a text-format page back into flat series, with a real parser (`prometheus-parse`).
//!
//! Histograms come out of the parser grouped; [`parse`] flattens them again into the series a
//! Prometheus server would store (`_bucket` per `le`, `_sum`, `_count`), because that is what
//! remote write carries and what `verify` counts.

use std::collections::BTreeMap;

use anyhow::Context;
use prometheus_parse::{Scrape, Value};

/// One stored series and its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

impl Series {
    /// `name{a="1",b="2"}`, labels sorted: a stable identity for comparisons.
    pub fn id(&self) -> String {
        series_id(&self.name, &self.labels)
    }
}

/// `name{a="1",b="2"}` with labels sorted and empty values left out, as Prometheus stores them.
pub fn series_id(name: &str, labels: &BTreeMap<String, String>) -> String {
    let inner: Vec<String> = labels
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}={v:?}"))
        .collect();
    format!("{name}{{{}}}", inner.join(","))
}

/// Formats a bucket bound the way Prometheus clients write `le`.
fn le_text(le: f64) -> String {
    if le.is_infinite() {
        "+Inf".to_string()
    } else {
        le.to_string()
    }
}

/// Parses a page into flat series.
pub fn parse(text: &str) -> anyhow::Result<Vec<Series>> {
    let scrape = Scrape::parse(text.lines().map(|l| Ok(l.to_string())))
        .context("parsing the text exposition format")?;
    let mut out = Vec::with_capacity(scrape.samples.len() * 4);
    for s in scrape.samples {
        let labels: BTreeMap<String, String> = s
            .labels
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        match s.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => out.push(Series {
                name: s.metric,
                labels,
                value: v,
            }),
            Value::Histogram(buckets) => {
                for b in buckets {
                    let mut l = labels.clone();
                    l.insert("le".into(), le_text(b.less_than));
                    out.push(Series {
                        name: format!("{}_bucket", s.metric),
                        labels: l,
                        value: b.count,
                    });
                }
            }
            Value::Summary(qs) => {
                for q in qs {
                    let mut l = labels.clone();
                    l.insert("quantile".into(), q.quantile.to_string());
                    out.push(Series {
                        name: s.metric.clone(),
                        labels: l,
                        value: q.count,
                    });
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_flattens_histograms() {
        let page = "# TYPE h histogram\nh_bucket{a=\"x\",le=\"1\"} 2\nh_bucket{a=\"x\",le=\"+Inf\"} 3\nh_sum{a=\"x\"} 4.5\nh_count{a=\"x\"} 3\n# TYPE c counter\nc_total 7\n";
        let mut ids: Vec<String> = parse(page).unwrap().iter().map(Series::id).collect();
        ids.sort();
        assert_eq!(
            ids,
            [
                "c_total{}",
                "h_bucket{a=\"x\",le=\"+Inf\"}",
                "h_bucket{a=\"x\",le=\"1\"}",
                "h_count{a=\"x\"}",
                "h_sum{a=\"x\"}"
            ]
        );
    }
}
