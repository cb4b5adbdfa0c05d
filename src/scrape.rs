//! Reading a text-format page back into flat series, with a real parser
//! (`prom_text_format_parser`, a grammar for the exposition format).
//!
//! [`parse`] flattens every family into the series a Prometheus server would store (`_bucket`
//! per `le`, `_sum`, `_count`), because that is what remote write carries and what `verify`
//! counts. It reads the exporter's page and the `/metrics` pages of vmagent, vminsert,
//! vmselect and vmstorage alike.

use std::collections::BTreeMap;

use anyhow::anyhow;
use prom_text_format_parser::{parse_scrape, Type, ValueType};

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

/// Parses a value the way Prometheus does (`+Inf`, `-Inf`, `NaN` included).
fn value(s: &str) -> anyhow::Result<f64> {
    match s {
        "+Inf" | "Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        "NaN" => Ok(f64::NAN),
        _ => s.parse().map_err(|_| anyhow!("not a number: {s:?}")),
    }
}

/// Parses a page into flat series.
pub fn parse(text: &str) -> anyhow::Result<Vec<Series>> {
    let (metrics, err) = parse_scrape(text);
    if let Some(e) = err {
        return Err(anyhow!("parsing the text exposition format: {e:?}"));
    }
    let mut out = Vec::new();
    for m in metrics {
        for s in m.samples {
            let suffix = match (m.kind, s.value.value_type) {
                (Type::Histogram, ValueType::Sample) => "_bucket",
                (Type::Histogram | Type::Summary, ValueType::Sum) => "_sum",
                (Type::Histogram | Type::Summary, ValueType::Count) => "_count",
                _ => "",
            };
            out.push(Series {
                name: format!("{}{suffix}", m.name),
                labels: s
                    .labels
                    .iter()
                    .map(|l| (l.key.clone(), l.value.clone()))
                    .collect(),
                value: value(s.value.value.as_str())?,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_reads_spaced_labels_and_braces_in_values() {
        let page = "vm_http_requests_total{path=\"/select/{}/prometheus\", code=\"200\"} 3\n";
        let s = &parse(page).unwrap()[0];
        assert_eq!(s.labels["path"], "/select/{}/prometheus");
        assert_eq!(s.labels["code"], "200");
        assert_eq!(s.value, 3.0);
    }

    #[test]
    fn parse_flattens_histograms() {
        let page = "# TYPE h histogram\nh_bucket{a=\"x\",le=\"1\"} 2\nh_bucket{a=\"x\",le=\"+Inf\"} 3\nh_sum{a=\"x\"} 4.5\nh_count{a=\"x\"} 3\n# TYPE c_total counter\nc_total 7\n";
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
