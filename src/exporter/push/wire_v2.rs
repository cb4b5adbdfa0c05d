//! Remote write 2.0 on the wire: `io.prometheus.write.v2.Request` (prometheus/prometheus
//! `prompb/io/prometheus/write/v2/types.proto`; spec 2.0-rc, prometheus/docs
//! `remote_write_spec_2_0.md`).
//!
//! Every string (label names and values, HELP) goes once into the request's `symbols` table,
//! which starts with the empty string; series refer to it by index. Each series carries its
//! family's type and HELP as `Metadata`. Classic histograms are sent as their `_bucket`, `_sum`
//! and `_count` float series, as a scrape stores them; no native histograms, exemplars or
//! created timestamps, so the bytes are the same under rc.3 and rc.4.
//!
//! As in [`super::wire_v1`], the prost types declare the message and decode it in tests; the
//! [`Writer`] streams into buffers, and a test holds both encodings equal.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use prost::encoding::{encoded_len_varint, WireType};

use super::super::catalog::Kind;
use super::batch::{Series, WireWriter};
use super::wire_v1::{encode_key, encode_varint, put_sample, sample_len};

/// `io.prometheus.write.v2.Request`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Request {
    #[prost(string, repeated, tag = "4")]
    pub symbols: Vec<String>,
    #[prost(message, repeated, tag = "5")]
    pub timeseries: Vec<TimeSeries>,
}

/// `io.prometheus.write.v2.TimeSeries` (without native histograms and exemplars).
#[derive(Clone, PartialEq, prost::Message)]
pub struct TimeSeries {
    #[prost(uint32, repeated, tag = "1")]
    pub labels_refs: Vec<u32>,
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
    #[prost(message, optional, tag = "5")]
    pub metadata: Option<Metadata>,
}

/// `io.prometheus.write.v2.Sample`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Sample {
    #[prost(double, tag = "1")]
    pub value: f64,
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

/// `io.prometheus.write.v2.Metadata`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Metadata {
    /// `MetricType`: 1 counter, 2 gauge, 3 histogram.
    #[prost(int32, tag = "1")]
    pub r#type: i32,
    #[prost(uint32, tag = "3")]
    pub help_ref: u32,
    #[prost(uint32, tag = "4")]
    pub unit_ref: u32,
}

/// `Metadata.MetricType` of a family.
pub fn metric_type(kind: Kind) -> i32 {
    match kind {
        Kind::Counter => 1,
        Kind::Gauge => 2,
        Kind::Histogram => 3,
    }
}

/// The symbols index's hash: every label name and value of every series is looked up, and
/// SipHash (std's default, made to resist chosen keys, which these strings are not) took a
/// fifth of the encoding time. This is FxHash (rustc's), eight bytes at a time.
#[derive(Default)]
struct SymbolHasher(u64);

impl Hasher for SymbolHasher {
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x51_7c_c1_b7_27_22_0a_95;
        let mut add = |w: u64| self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(K);
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            add(u64::from_le_bytes(c.try_into().unwrap()));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut last = [0u8; 8];
            last[..rest.len()].copy_from_slice(rest);
            add(u64::from_le_bytes(last));
        }
    }

    fn write_u8(&mut self, b: u8) {
        self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// Builds one `Request`: a symbols table and the series that refer to it.
#[derive(Debug)]
pub struct Writer {
    index: HashMap<String, u32, BuildHasherDefault<SymbolHasher>>,
    symbols: Vec<u8>,
    series: Vec<u8>,
    refs: Vec<u32>,
}

impl Default for Writer {
    fn default() -> Self {
        let mut w = Writer {
            index: HashMap::default(),
            symbols: Vec::new(),
            series: Vec::new(),
            refs: Vec::new(),
        };
        w.symbol("");
        w
    }
}

impl Writer {
    fn symbol(&mut self, s: &str) -> u32 {
        if let Some(&i) = self.index.get(s) {
            return i;
        }
        let i = self.index.len() as u32;
        self.index.insert(s.to_owned(), i);
        encode_key(4, WireType::LengthDelimited, &mut self.symbols);
        encode_varint(s.len() as u64, &mut self.symbols);
        self.symbols.extend_from_slice(s.as_bytes());
        i
    }
}

fn varint_field_len(v: u64) -> usize {
    if v == 0 {
        0
    } else {
        1 + encoded_len_varint(v)
    }
}

fn put_varint_field(tag: u32, v: u64, buf: &mut Vec<u8>) {
    if v != 0 {
        encode_key(tag, WireType::Varint, buf);
        encode_varint(v, buf);
    }
}

impl WireWriter for Writer {
    fn put(&mut self, s: &Series<'_>) {
        let mut refs = std::mem::take(&mut self.refs);
        refs.clear();
        s.each_label(|n, v| {
            refs.push(self.symbol(n));
            refs.push(self.symbol(v));
        });
        let (kind, help) = match s.meta {
            Some((k, h)) => (metric_type(k) as u64, self.symbol(h) as u64),
            None => (0, 0),
        };
        let refs_len: usize = refs.iter().map(|r| encoded_len_varint(*r as u64)).sum();
        let sl = sample_len(s.value, s.timestamp);
        let ml = varint_field_len(kind) + varint_field_len(help);
        let ts_len = 1
            + encoded_len_varint(refs_len as u64)
            + refs_len
            + 1
            + encoded_len_varint(sl as u64)
            + sl
            + 1
            + encoded_len_varint(ml as u64)
            + ml;

        let buf = &mut self.series;
        encode_key(5, WireType::LengthDelimited, buf);
        encode_varint(ts_len as u64, buf);
        encode_key(1, WireType::LengthDelimited, buf);
        encode_varint(refs_len as u64, buf);
        for r in &refs {
            encode_varint(*r as u64, buf);
        }
        encode_key(2, WireType::LengthDelimited, buf);
        encode_varint(sl as u64, buf);
        put_sample(s.value, s.timestamp, buf);
        encode_key(5, WireType::LengthDelimited, buf);
        encode_varint(ml as u64, buf);
        put_varint_field(1, kind, buf);
        put_varint_field(3, help, buf);
        self.refs = refs;
    }

    fn finish(&mut self, out: &mut Vec<u8>) {
        out.clear();
        out.extend_from_slice(&self.symbols);
        out.extend_from_slice(&self.series);
        // Start the next request with an empty table, keeping the allocations.
        self.index.clear();
        self.symbols.clear();
        self.series.clear();
        self.symbol("");
    }
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;

    #[test]
    fn encode_request_matches_prost() {
        let labels = [("code", "200"), ("method", "GET")];
        let series = [
            Series::new(
                "http_requests_total",
                &labels,
                None,
                12.5,
                1_790_812_800_000,
            )
            .with_meta(Kind::Counter, "Requests."),
            Series::new("x_bucket", &labels, Some("0.5"), 0.0, 1)
                .with_meta(Kind::Histogram, "Requests."),
        ];
        let mut w = Writer::default();
        for s in &series {
            w.put(s);
        }
        let mut ours = Vec::new();
        w.finish(&mut ours);

        let back = Request::decode(ours.as_slice()).unwrap();
        assert_eq!(back.encode_to_vec(), ours);
        assert_eq!(back.symbols[0], "");
        let sym = |r: u32| back.symbols[r as usize].as_str();
        let names: Vec<&str> = back.timeseries[1]
            .labels_refs
            .iter()
            .map(|r| sym(*r))
            .collect();
        assert_eq!(
            names,
            ["__name__", "x_bucket", "code", "200", "le", "0.5", "method", "GET"]
        );
        let m = back.timeseries[0].metadata.clone().unwrap();
        assert_eq!((m.r#type, sym(m.help_ref)), (1, "Requests."));
        assert_eq!(back.timeseries[0].samples[0].value, 12.5);
        assert_eq!(back.timeseries[1].samples[0].timestamp, 1);
        // A second request starts a fresh symbols table.
        w.put(&series[1]);
        w.finish(&mut ours);
        let again = Request::decode(ours.as_slice()).unwrap();
        assert_eq!(again.symbols.len(), 10);
    }
}
