//! `mock-exporter push`: the round is the scrape page, the retry rules are Prometheus', and
//! real receivers store every sample sent (sent = stored, per series).
//!
//! Receiver tests start their receiver from PATH on free loopback ports and stop it; one whose
//! programs are missing prints a SKIPPED line instead.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use prost::Message;
use remote_write_lab::compat::receivers::{total, Kind, Receiver};
use remote_write_lab::exporter::exposition;
use remote_write_lab::exporter::fleet::{FleetOptions, Model};
use remote_write_lab::exporter::push::batch::{Batch, Batcher};
use remote_write_lab::exporter::push::stats::Stats;
use remote_write_lab::exporter::push::{self, wire_v1, wire_v2, Config, Protocol};
use remote_write_lab::scrape;

const BIN: &str = env!("CARGO_BIN_EXE_mock-exporter");
const SECOND: u64 = 1_790_900_000;

fn model() -> Model {
    Model::new(FleetOptions {
        seed: 1,
        scale: 2,
        ..FleetOptions::default()
    })
}

/// The page at `second`, as series id → value.
fn page(model: &Model, second: u64) -> BTreeMap<String, f64> {
    let text = String::from_utf8(exposition::render(model, second)).unwrap();
    scrape::parse(&text)
        .unwrap()
        .into_iter()
        .map(|s| (s.id(), s.value))
        .collect()
}

fn id(pairs: impl Iterator<Item = (String, String)>) -> String {
    let mut name = String::new();
    let mut labels = BTreeMap::new();
    for (n, v) in pairs {
        if n == "__name__" {
            name = v;
        } else {
            labels.insert(n, v);
        }
    }
    scrape::series_id(&name, &labels)
}

fn round(model: &Model, protocol: Protocol) -> Vec<Batch> {
    let mut out = Vec::new();
    match protocol {
        Protocol::V1 => {
            let mut b = Batcher::new(wire_v1::Writer::default(), 500, |x| out.push(x));
            b.at(SECOND as i64 * 1000);
            model.emit(SECOND, &mut b);
            b.flush();
        }
        Protocol::V2 => {
            let mut b = Batcher::new(wire_v2::Writer::default(), 500, |x| out.push(x));
            b.at(SECOND as i64 * 1000);
            model.emit(SECOND, &mut b);
            b.flush();
        }
    }
    out
}

fn decode(protocol: Protocol, batches: &[Batch]) -> BTreeMap<String, f64> {
    let mut got = BTreeMap::new();
    for b in batches {
        let raw = snap::raw::Decoder::new().decompress_vec(&b.body).unwrap();
        assert_eq!(raw.len(), b.raw_bytes);
        let before = got.len();
        match protocol {
            Protocol::V1 => {
                for ts in wire_v1::WriteRequest::decode(raw.as_slice())
                    .unwrap()
                    .timeseries
                {
                    assert_eq!(ts.samples[0].timestamp, SECOND as i64 * 1000);
                    let key = id(ts.labels.into_iter().map(|l| (l.name, l.value)));
                    got.insert(key, ts.samples[0].value);
                }
            }
            Protocol::V2 => {
                let req = wire_v2::Request::decode(raw.as_slice()).unwrap();
                assert_eq!(req.symbols[0], "");
                for ts in req.timeseries {
                    let s = |r: &u32| req.symbols[*r as usize].clone();
                    let pairs = ts.labels_refs.chunks(2).map(|p| (s(&p[0]), s(&p[1])));
                    let key = id(pairs.collect::<Vec<_>>().into_iter());
                    assert!(ts.metadata.unwrap().r#type > 0);
                    got.insert(key, ts.samples[0].value);
                }
            }
        }
        assert_eq!(
            (got.len() - before) as u64,
            b.samples,
            "series repeat within a round"
        );
    }
    got
}

#[test]
fn push_round_is_the_scrape_page_v1() {
    let m = model();
    assert_eq!(
        decode(Protocol::V1, &round(&m, Protocol::V1)),
        page(&m, SECOND)
    );
}

#[test]
fn push_round_is_the_scrape_page_v2() {
    let m = model();
    assert_eq!(
        decode(Protocol::V2, &round(&m, Protocol::V2)),
        page(&m, SECOND)
    );
}

/// A receiver on loopback answering request N with `answers[N]` (the last one repeats).
fn scripted(answers: Vec<&'static str>) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/api/v1/write", listener.local_addr().unwrap());
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            loop {
                let mut len = 0usize;
                let mut line = String::new();
                let mut ok = false;
                while reader.read_line(&mut line).unwrap_or(0) > 0 {
                    if line == "\r\n" {
                        ok = true;
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap();
                    }
                    line.clear();
                }
                if !ok {
                    break;
                }
                let mut body = vec![0; len];
                reader.read_exact(&mut body).unwrap();
                let n = seen.fetch_add(1, Ordering::SeqCst);
                let a = answers[n.min(answers.len() - 1)];
                let _ = stream.write_all(a.as_bytes());
            }
        }
    });
    (url, count)
}

const OK: &str = "HTTP/1.1 204 No Content\r\nX-Prometheus-Remote-Write-Samples-Written: 10\r\n\r\n";
const UNAVAILABLE: &str = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\nbusy";
const BAD: &str = "HTTP/1.1 400 Bad Request\r\nContent-Length: 12\r\n\r\nout of order";
const THROTTLED: &str = "HTTP/1.1 429 Too Many Requests\r\nContent-Length: 4\r\n\r\nslow";

/// Pushes one round of 10 samples per request to `url`; returns the figures.
fn push_once(url: &str, retry_on_429: bool) -> Arc<Stats> {
    let cfg = Config {
        urls: vec![url.parse().unwrap()],
        protocol: Protocol::V1,
        interval_secs: 1,
        duration: Duration::from_secs(1),
        start: push::unix_now(),
        backdate_ms: 0,
        concurrency: 1,
        batch_size: 10,
        retry_on_429,
        drain: Duration::from_secs(3),
        page: push::Page::default(),
    };
    let stats = Arc::new(Stats::new(&[url.to_string()]));
    let one = Model::new(FleetOptions::default());
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(push::run(one, cfg, stats.clone())).unwrap();
    stats
}

#[test]
fn push_retries_5xx_then_counts_written() {
    let (url, requests) = scripted(vec![UNAVAILABLE, UNAVAILABLE, OK]);
    let stats = push_once(&url, false);
    let u = &stats.urls[0];
    let generated = stats.samples_generated.load(Ordering::Relaxed);
    assert_eq!(u.samples_sent.load(Ordering::Relaxed), generated);
    assert_eq!(
        u.samples_retried.load(Ordering::Relaxed),
        20,
        "two retries of the first batch"
    );
    assert_eq!(u.dropped_total(), 0);
    assert_eq!(u.answers()[&503], 2);
    let batches = generated.div_ceil(10);
    assert_eq!(requests.load(Ordering::SeqCst) as u64, batches + 2);
    assert_eq!(u.samples_written.load(Ordering::Relaxed), 10 * batches);
}

#[test]
fn push_drops_4xx_without_retrying() {
    let (url, requests) = scripted(vec![BAD]);
    let stats = push_once(&url, false);
    let u = &stats.urls[0];
    assert_eq!(
        u.dropped_total(),
        stats.samples_generated.load(Ordering::Relaxed)
    );
    assert_eq!(u.samples_retried.load(Ordering::Relaxed), 0);
    assert_eq!(requests.load(Ordering::SeqCst) as u64, u.answers()[&400]);
    assert!(
        stats.summary().contains("rejected_4xx"),
        "{}",
        stats.summary()
    );
    assert!(stats.render().contains("reason=\"rejected_4xx\""));
}

#[test]
fn push_retries_429_only_when_asked() {
    let (url, _) = scripted(vec![THROTTLED, OK]);
    let stats = push_once(&url, false);
    assert!(
        stats.urls[0].dropped_total() >= 10,
        "429 dropped by default"
    );
    let (url, _) = scripted(vec![THROTTLED, OK]);
    let stats = push_once(&url, true);
    let u = &stats.urls[0];
    assert_eq!(u.dropped_total(), 0);
    assert_eq!(u.samples_retried.load(Ordering::Relaxed), 10);
}

/// Pushes two rounds to `kind` with the binary and requires every series of the page stored
/// twice, with the page's values at the stored seconds.
fn sent_equals_stored(kind: Kind) {
    if let Some(p) = kind.missing() {
        // Written to stderr directly, so it shows even though the test harness captures output.
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED push to {}: {p} is not on PATH",
            kind.name()
        );
        return;
    }
    let r = Receiver::start(kind).unwrap();
    let out = Command::new(BIN)
        .args([
            "push",
            "--scale",
            "2",
            "--protocol",
            "1.0",
            "--interval",
            "1s",
        ])
        .args(["--duration", "2s", "--drain", "5s", "--url", &r.write_url])
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{report}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let m = model();
    let series = m.series_count();
    assert!(
        report.contains(&format!("sent (2xx)  {}  samples", 2 * series)),
        "{report}"
    );
    let stored = r
        .stored_when(Duration::from_secs(30), |s| total(s) >= 2 * series)
        .unwrap();
    assert_eq!(stored.len(), series, "{} series stored", stored.len());
    for (key, samples) in &stored {
        assert_eq!(samples.len(), 2, "{key}: {samples:?}");
    }
    let first = stored.values().next().unwrap()[0].0 as u64 / 1000;
    for (i, second) in [first, first + 1].into_iter().enumerate() {
        for (key, want) in page(&m, second) {
            let got = stored[&key][i].1;
            let close = (got - want).abs() <= 1e-9 * want.abs().max(1.0);
            assert!(close, "{key} at {second}: stored {got}, page {want}");
        }
    }
}

#[test]
fn push_victoria_metrics_stores_every_sample() {
    sent_equals_stored(Kind::VictoriaMetrics);
}

#[test]
fn push_prometheus_receiver_stores_every_sample() {
    sent_equals_stored(Kind::Prometheus);
}

#[test]
fn push_vmagent_forwards_every_sample() {
    sent_equals_stored(Kind::Vmagent);
}

#[test]
fn push_vminsert_stores_every_sample() {
    sent_equals_stored(Kind::VmCluster);
}
