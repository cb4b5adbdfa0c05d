//! From the model's families to batches of flat series: the push side's [`Sink`].
//!
//! The scrape page and a push round come from the same [`Model::emit`](super::super::fleet::Model::emit)
//! at the same second, so they carry the same values. A histogram becomes what a scrape of the
//! page stores: one `_bucket` series per bound plus `le="+Inf"`, then `_sum` and `_count`. Each
//! flat series is handed to a [`WireWriter`]; every `batch_size` samples the request is closed,
//! snappy-compressed and handed on. Nothing outlives a batch, so memory does not grow with
//! series or time.

use bytes::Bytes;

use super::super::catalog::{Fam, Kind, FAMILIES};
use super::super::fleet::{Sink, Value};

/// One flat series with one sample, as a wire writer sees it.
#[derive(Debug, Clone, Copy)]
pub struct Series<'a> {
    pub name: &'a str,
    /// Sorted by name, without `__name__` and `le`.
    pub labels: &'a [(&'a str, &'a str)],
    pub le: Option<&'a str>,
    pub value: f64,
    /// Milliseconds since the Unix epoch.
    pub timestamp: i64,
    /// The family's type and HELP text, for protocols that carry metadata.
    pub meta: Option<(Kind, &'a str)>,
}

impl<'a> Series<'a> {
    pub fn new(
        name: &'a str,
        labels: &'a [(&'a str, &'a str)],
        le: Option<&'a str>,
        value: f64,
        timestamp: i64,
    ) -> Series<'a> {
        Series {
            name,
            labels,
            le,
            value,
            timestamp,
            meta: None,
        }
    }

    pub fn with_meta(mut self, kind: Kind, help: &'a str) -> Series<'a> {
        self.meta = Some((kind, help));
        self
    }

    /// Calls `f` for every label in lexicographic order: `__name__` first, `le` in its place.
    #[inline]
    pub fn each_label(&self, mut f: impl FnMut(&'a str, &'a str)) {
        f("__name__", self.name);
        let mut le = self.le;
        for &(n, v) in self.labels {
            if let Some(l) = le {
                if n > "le" {
                    f("le", l);
                    le = None;
                }
            }
            f(n, v);
        }
        if let Some(l) = le {
            f("le", l);
        }
    }
}

/// Appends series to a request and closes it.
pub trait WireWriter {
    fn put(&mut self, series: &Series<'_>);
    /// Writes the whole uncompressed request into `out` and starts a new one.
    fn finish(&mut self, out: &mut Vec<u8>);
}

/// One compressed request, ready to post.
#[derive(Debug, Clone)]
pub struct Batch {
    pub body: Bytes,
    pub samples: u64,
    /// Uncompressed protobuf size.
    pub raw_bytes: usize,
}

/// Series names of one family: the name, and `_bucket`, `_sum`, `_count` for histograms.
struct Names {
    base: &'static str,
    bucket: String,
    sum: String,
    count: String,
}

/// A [`Sink`] that turns one round of the model into batches of `batch_size` samples.
pub struct Batcher<W, F> {
    out: Requests<W, F>,
    names: Vec<Names>,
    /// `le` strings per bounds table, found by address (the model's bounds are statics).
    les: Vec<(usize, Vec<String>)>,
}

/// The request being filled, and where closed ones go.
struct Requests<W, F> {
    wire: W,
    timestamp: i64,
    batch_size: u64,
    pending: u64,
    raw: Vec<u8>,
    compressed: Vec<u8>,
    snappy: snap::raw::Encoder,
    emit: F,
}

impl<W: WireWriter, F: FnMut(Batch)> Requests<W, F> {
    fn put(&mut self, fam: Fam, name: &str, labels: &[(&str, &str)], le: Option<&str>, value: f64) {
        let f = &FAMILIES[fam as usize];
        let s = Series::new(name, labels, le, value, self.timestamp).with_meta(f.kind, f.help);
        self.wire.put(&s);
        self.pending += 1;
        if self.pending >= self.batch_size {
            self.flush();
        }
    }

    fn flush(&mut self) {
        if self.pending == 0 {
            return;
        }
        self.wire.finish(&mut self.raw);
        // Into a buffer kept across batches: `compress_vec` would zero a worst-case sized one
        // per batch, nine times the bytes it keeps.
        self.compressed
            .resize(snap::raw::max_compress_len(self.raw.len()), 0);
        let n = self
            .snappy
            .compress(&self.raw, &mut self.compressed)
            .expect("snappy compresses any input below 4 GiB");
        let batch = Batch {
            body: Bytes::copy_from_slice(&self.compressed[..n]),
            samples: self.pending,
            raw_bytes: self.raw.len(),
        };
        self.pending = 0;
        (self.emit)(batch);
    }
}

impl<W: WireWriter, F: FnMut(Batch)> Batcher<W, F> {
    pub fn new(wire: W, batch_size: u64, emit: F) -> Self {
        let names = FAMILIES
            .iter()
            .map(|f| Names {
                base: f.name,
                bucket: format!("{}_bucket", f.name),
                sum: format!("{}_sum", f.name),
                count: format!("{}_count", f.name),
            })
            .collect();
        Batcher {
            out: Requests {
                wire,
                timestamp: 0,
                batch_size: batch_size.max(1),
                pending: 0,
                raw: Vec::new(),
                compressed: Vec::new(),
                snappy: snap::raw::Encoder::new(),
                emit,
            },
            names,
            les: Vec::new(),
        }
    }

    /// Sets the timestamp (Unix milliseconds) of the samples that follow.
    pub fn at(&mut self, timestamp_ms: i64) {
        self.out.timestamp = timestamp_ms;
    }

    /// Closes the request in progress, if it holds anything, and hands it on.
    pub fn flush(&mut self) {
        self.out.flush();
    }

    fn le_index(&mut self, bounds: &'static [f64]) -> usize {
        let key = bounds.as_ptr() as usize;
        if let Some(i) = self.les.iter().position(|(k, _)| *k == key) {
            return i;
        }
        let mut les: Vec<String> = bounds.iter().map(|b| format_le(*b)).collect();
        les.push("+Inf".to_string());
        self.les.push((key, les));
        self.les.len() - 1
    }
}

/// `le` as Prometheus' text format writes it (`0.005`, `1`, `+Inf`).
pub fn format_le(b: f64) -> String {
    if b == f64::INFINITY {
        "+Inf".into()
    } else {
        format!("{b}")
    }
}

impl<W: WireWriter, F: FnMut(Batch)> Sink for Batcher<W, F> {
    fn series(&mut self, family: Fam, labels: &[(&str, &str)], value: Value) {
        let names = &self.names[family as usize];
        match value {
            Value::Counter(v) | Value::Gauge(v) => {
                self.out.put(family, names.base, labels, None, v)
            }
            Value::Histogram(h) => {
                debug_assert_eq!(FAMILIES[family as usize].kind, Kind::Histogram);
                let li = self.le_index(h.bounds);
                let names = &self.names[family as usize];
                let counts = h.cumulative.iter().chain([&h.count]);
                for (le, n) in self.les[li].1.iter().zip(counts) {
                    self.out
                        .put(family, &names.bucket, labels, Some(le), *n as f64);
                }
                self.out.put(family, &names.sum, labels, None, h.sum);
                self.out
                    .put(family, &names.count, labels, None, h.count as f64);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_label_puts_name_first_and_le_in_order() {
        let labels = [("code", "200"), ("method", "GET")];
        let s = Series::new("x_bucket", &labels, Some("0.5"), 1.0, 1);
        let mut got = Vec::new();
        s.each_label(|n, v| got.push(format!("{n}={v}")));
        assert_eq!(
            got,
            ["__name__=x_bucket", "code=200", "le=0.5", "method=GET"]
        );
        let s = Series::new("x_bucket", &labels[..1], Some("+Inf"), 1.0, 1);
        let mut got = Vec::new();
        s.each_label(|n, _| got.push(n));
        assert_eq!(got, ["__name__", "code", "le"]);
    }

    #[test]
    fn format_le_matches_the_text_format() {
        assert_eq!(format_le(0.005), "0.005");
        assert_eq!(format_le(1.0), "1");
        assert_eq!(format_le(2.5), "2.5");
        assert_eq!(format_le(256.0), "256");
        assert_eq!(format_le(f64::INFINITY), "+Inf");
    }
}
