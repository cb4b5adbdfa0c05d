//! The Prometheus text exposition format (0.0.4) of one page.
//!
//! Values come from [`super::fleet::Model`]; this module only arranges them into tikv's
//! `prometheus` data model and encodes them with its `TextEncoder`, so HELP/TYPE lines, escaping,
//! `le` formatting and the `+Inf` bucket are the client library's, not ours.

use prometheus::proto::{
    Bucket, Counter, Gauge, Histogram, LabelPair, Metric, MetricFamily, MetricType,
};
use prometheus::{Encoder, TextEncoder};

use super::catalog::{Fam, Kind, FAMILIES};
use super::fleet::{Model, Sink, Value};

/// The `Content-Type` of a page. Prometheus 3 fails a scrape that lacks it.
pub fn content_type() -> &'static str {
    prometheus::TEXT_FORMAT
}

/// Collects series into metric families, grouped in catalogue order.
struct Families(Vec<MetricFamily>);

impl Families {
    fn new() -> Families {
        Families(
            FAMILIES
                .iter()
                .map(|f| {
                    let mut mf = MetricFamily::default();
                    mf.set_name(f.name.to_string());
                    mf.set_help(f.help.to_string());
                    mf.set_field_type(match f.kind {
                        Kind::Counter => MetricType::COUNTER,
                        Kind::Gauge => MetricType::GAUGE,
                        Kind::Histogram => MetricType::HISTOGRAM,
                    });
                    mf
                })
                .collect(),
        )
    }
}

impl Sink for Families {
    fn series(&mut self, family: Fam, labels: &[(&str, &str)], value: Value) {
        let mut m = Metric::from_label(
            labels
                .iter()
                .map(|(k, v)| {
                    let mut lp = LabelPair::default();
                    lp.set_name((*k).to_string());
                    lp.set_value((*v).to_string());
                    lp
                })
                .collect(),
        );
        match value {
            Value::Counter(v) => {
                let mut c = Counter::default();
                c.set_value(v);
                m.set_counter(c);
            }
            Value::Gauge(v) => {
                let mut g = Gauge::default();
                g.set_value(v);
                m.set_gauge(g);
            }
            Value::Histogram(hist) => {
                let mut h = Histogram::default();
                h.set_bucket(
                    hist.bounds
                        .iter()
                        .zip(hist.cumulative)
                        .map(|(le, n)| {
                            let mut b = Bucket::default();
                            b.set_upper_bound(*le);
                            b.set_cumulative_count(n);
                            b
                        })
                        .collect(),
                );
                h.set_sample_count(hist.count);
                h.set_sample_sum(hist.sum);
                m.set_histogram(h);
            }
        }
        self.0[family as usize].mut_metric().push(m);
    }
}

/// Renders the page at `now` (Unix seconds).
pub fn render(model: &Model, now: u64) -> Vec<u8> {
    render_for(model, now, None)
}

/// Renders the page at `now` as scraped for `region` (see [`Model::emit_for`]).
pub fn render_for(model: &Model, now: u64, region: Option<&str>) -> Vec<u8> {
    let mut families = Families::new();
    model.emit_for(now, region, &mut families);
    let mut out = Vec::new();
    TextEncoder::new()
        .encode(&families.0, &mut out)
        .expect("writing to a Vec cannot fail and every family has metrics");
    out
}
