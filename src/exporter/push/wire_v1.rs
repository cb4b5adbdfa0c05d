//! Remote write 1.0 on the wire: `prometheus.WriteRequest` (prometheus/prometheus
//! `prompb/remote.proto`, `prompb/types.proto`).
//!
//! The message types are declared with `prost` derive, field for field as in the `.proto`
//! files, so receivers' answers and tests decode with them. Requests are not built from them:
//! [`Writer`] appends each series' bytes straight into the request buffer, so a batch costs
//! one buffer and no allocation per label. A unit test holds the two encodings byte-equal.
//!
//! Exemplars, histograms and metadata (fields the 1.0 spec leaves optional) are not sent.

use prost::encoding::{encoded_len_varint, WireType};

use super::batch::{Series, WireWriter};

/// `prometheus.WriteRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WriteRequest {
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
}

/// `prometheus.TimeSeries`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TimeSeries {
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
}

/// `prometheus.Label`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Label {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub value: String,
}

/// `prometheus.Sample`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Sample {
    #[prost(double, tag = "1")]
    pub value: f64,
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

/// Appends `v` as a base-128 varint. Most of a request's varints (keys, label lengths) fit in
/// one byte; prost's `encode_varint` goes through `BufMut` for each byte, which showed as a tenth
/// of the encoding time.
#[inline]
pub(super) fn encode_varint(mut v: u64, buf: &mut Vec<u8>) {
    while v >= 0x80 {
        buf.push(v as u8 | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

/// Appends a field key (tag and wire type).
#[inline]
pub(super) fn encode_key(tag: u32, wire_type: WireType, buf: &mut Vec<u8>) {
    encode_varint(u64::from((tag << 3) | wire_type as u32), buf);
}

/// Length of a proto3 string field (tag < 16), zero when the string is empty.
fn string_field_len(s: &str) -> usize {
    if s.is_empty() {
        0
    } else {
        1 + encoded_len_varint(s.len() as u64) + s.len()
    }
}

fn put_string_field(tag: u32, s: &str, buf: &mut Vec<u8>) {
    if !s.is_empty() {
        encode_key(tag, WireType::LengthDelimited, buf);
        encode_varint(s.len() as u64, buf);
        buf.extend_from_slice(s.as_bytes());
    }
}

/// Encoded length of a `Sample` body, and writing it: proto3 leaves zero fields out.
pub(super) fn sample_len(value: f64, timestamp: i64) -> usize {
    (if value != 0.0 { 9 } else { 0 })
        + if timestamp != 0 {
            1 + encoded_len_varint(timestamp as u64)
        } else {
            0
        }
}

pub(super) fn put_sample(value: f64, timestamp: i64, buf: &mut Vec<u8>) {
    if value != 0.0 {
        encode_key(1, WireType::SixtyFourBit, buf);
        buf.extend_from_slice(&value.to_le_bytes());
    }
    if timestamp != 0 {
        encode_key(2, WireType::Varint, buf);
        encode_varint(timestamp as u64, buf);
    }
}

fn label_len(name: &str, value: &str) -> usize {
    string_field_len(name) + string_field_len(value)
}

/// Appends `prometheus.TimeSeries` entries (field 1 of `WriteRequest`) to one buffer.
#[derive(Debug, Default)]
pub struct Writer {
    buf: Vec<u8>,
}

impl WireWriter for Writer {
    fn put(&mut self, s: &Series<'_>) {
        let mut ts_len = 0;
        s.each_label(|n, v| {
            let l = label_len(n, v);
            ts_len += 1 + encoded_len_varint(l as u64) + l;
        });
        let sl = sample_len(s.value, s.timestamp);
        ts_len += 1 + encoded_len_varint(sl as u64) + sl;

        let buf = &mut self.buf;
        buf.reserve(1 + encoded_len_varint(ts_len as u64) + ts_len);
        encode_key(1, WireType::LengthDelimited, buf);
        encode_varint(ts_len as u64, buf);
        s.each_label(|n, v| {
            encode_key(1, WireType::LengthDelimited, buf);
            encode_varint(label_len(n, v) as u64, buf);
            put_string_field(1, n, buf);
            put_string_field(2, v, buf);
        });
        encode_key(2, WireType::LengthDelimited, buf);
        encode_varint(sl as u64, buf);
        put_sample(s.value, s.timestamp, buf);
    }

    fn finish(&mut self, out: &mut Vec<u8>) {
        // The request is the buffer: hand it over and fill `out`'s old one next.
        std::mem::swap(out, &mut self.buf);
        self.buf.clear();
    }
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;

    #[test]
    fn encode_varint_matches_prost() {
        for v in [
            0,
            1,
            127,
            128,
            300,
            16_383,
            16_384,
            1_790_812_800_000,
            u64::MAX,
        ] {
            let (mut ours, mut want) = (Vec::new(), Vec::new());
            encode_varint(v, &mut ours);
            prost::encoding::encode_varint(v, &mut want);
            assert_eq!(ours, want, "{v}");
        }
        let (mut ours, mut want) = (Vec::new(), Vec::new());
        encode_key(5, WireType::LengthDelimited, &mut ours);
        prost::encoding::encode_key(5, WireType::LengthDelimited, &mut want);
        assert_eq!(ours, want);
    }

    #[test]
    fn encode_series_matches_prost() {
        let labels = [("code", "200"), ("method", "GET"), ("service", "api")];
        let series = [
            Series::new(
                "http_requests_total",
                &labels,
                None,
                12.5,
                1_790_812_800_000,
            ),
            Series::new("x_bucket", &labels, Some("0.5"), 0.0, 1),
            Series::new("x_sum", &[], None, -3.0, 0),
        ];
        let mut w = Writer::default();
        for s in &series {
            w.put(s);
        }
        let mut ours = Vec::new();
        w.finish(&mut ours);

        let want = WriteRequest {
            timeseries: series
                .iter()
                .map(|s| {
                    let mut labels = Vec::new();
                    s.each_label(|n, v| {
                        labels.push(Label {
                            name: n.into(),
                            value: v.into(),
                        })
                    });
                    TimeSeries {
                        labels,
                        samples: vec![Sample {
                            value: s.value,
                            timestamp: s.timestamp,
                        }],
                    }
                })
                .collect(),
        };
        assert_eq!(ours, want.encode_to_vec());
        let back = WriteRequest::decode(ours.as_slice()).unwrap();
        assert_eq!(back.timeseries[1].labels[2].name, "le");
        assert_eq!(back.timeseries[1].labels[3].name, "method");
    }
}
