//! Throughput of `mock-exporter push`'s generator, for remote write 1.0 and 2.0 side by side:
//! samples per second on one core to encode (model emit → protobuf → snappy), the same encoded
//! and posted to a receiver that discards, and bytes per sample on the wire.
//!
//!     cargo bench --bench push
//!
//! The receiver is a small hyper server this bench starts on 127.0.0.1 and stops at the end; it
//! reads each body, counts its bytes and answers 204. Every figure is the median of several
//! repetitions, the protocols alternating so that both see the same machine load. Writes the
//! figures to docs/benchmarks.md; `-- --encode-only` prints the encoding figures and writes
//! nothing.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use tokio::sync::{mpsc, watch};

use common::*;
use remote_write_lab::exporter::catalog::Fam;
use remote_write_lab::exporter::fleet::{FleetOptions, Model, Sink, Value, EPOCH};
use remote_write_lab::exporter::push::batch::{Batch, Batcher, WireWriter};
use remote_write_lab::exporter::push::client::Poster;
use remote_write_lab::exporter::push::{wire_v1, wire_v2, Protocol};

/// Hosts: 104,256 series, the exporter bench's large page.
const SCALE: usize = 112;
/// Rounds (consecutive seconds of the model) per repetition.
const ROUNDS: u64 = 5;
const REPS: usize = 7;
/// `mock-exporter push`'s default `--batch-size`.
const BATCH_SIZE: u64 = 2000;
/// Requests in flight when sending (`--concurrency`).
const SENDERS: usize = 2;

/// One repetition's totals.
#[derive(Debug, Clone, Copy, Default)]
struct Rep {
    samples: u64,
    raw_bytes: u64,
    wire_bytes: u64,
    /// CPU time of the generating thread.
    cpu_s: f64,
    wall_s: f64,
}

impl Rep {
    fn per_core(&self) -> f64 {
        self.samples as f64 / self.cpu_s
    }
    fn per_wall(&self) -> f64 {
        self.samples as f64 / self.wall_s
    }
}

/// CPU time of the calling thread (the scheduler's nanosecond count, not tick-rounded).
fn thread_cpu_s() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(f64::NAN, |ns| ns as f64 / 1e9)
}

/// CPU time of the whole process (user + system), from /proc/self/stat in clock ticks.
fn process_cpu_s() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // After the command's closing parenthesis: field 3 (state) first; utime and stime are
    // fields 14 and 15 of proc(5).
    let f: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        f.get(i - 3)
            .and_then(|x| x.parse::<u64>().ok())
            .unwrap_or(0)
    };
    (ticks(14) + ticks(15)) as f64 / 100.0
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn model() -> Model {
    Model::new(FleetOptions {
        scale: SCALE,
        ..FleetOptions::default()
    })
}

/// Second of the `rep`-th repetition's first round.
fn start(rep: usize) -> u64 {
    EPOCH + 86_400 + rep as u64 * ROUNDS
}

/// Counts samples and drops them: what the model alone costs.
struct Discard(u64);

impl Sink for Discard {
    fn series(&mut self, _: Fam, _: &[(&str, &str)], value: Value) {
        self.0 += match value {
            Value::Histogram(h) => h.bounds.len() as u64 + 3,
            _ => 1,
        };
    }
}

fn emit_only(model: &Model, rep: usize) -> Rep {
    let mut sink = Discard(0);
    let (c0, t0) = (thread_cpu_s(), Instant::now());
    for r in 0..ROUNDS {
        model.emit(start(rep) + r, &mut sink);
    }
    Rep {
        samples: sink.0,
        cpu_s: thread_cpu_s() - c0,
        wall_s: t0.elapsed().as_secs_f64(),
        ..Rep::default()
    }
}

/// Runs ROUNDS rounds through a batcher writing `wire`; every closed batch goes to `emit`.
fn generate<W: WireWriter>(model: &Model, rep: usize, wire: W, mut emit: impl FnMut(Batch)) {
    let mut batcher = Batcher::new(wire, BATCH_SIZE, |b: Batch| emit(b));
    for r in 0..ROUNDS {
        let second = start(rep) + r;
        batcher.at(second as i64 * 1000);
        model.emit(second, &mut batcher);
        batcher.flush();
    }
}

fn generate_protocol(model: &Model, rep: usize, protocol: Protocol, emit: impl FnMut(Batch)) {
    match protocol {
        Protocol::V1 => generate(model, rep, wire_v1::Writer::default(), emit),
        Protocol::V2 => generate(model, rep, wire_v2::Writer::default(), emit),
    }
}

/// Encodes ROUNDS rounds on this thread and drops the bodies.
fn encode_only(model: &Model, rep: usize, protocol: Protocol) -> Rep {
    let mut out = Rep::default();
    let (c0, t0) = (thread_cpu_s(), Instant::now());
    generate_protocol(model, rep, protocol, |b| {
        out.samples += b.samples;
        out.raw_bytes += b.raw_bytes as u64;
        out.wire_bytes += b.body.len() as u64;
        std::hint::black_box(&b.body);
    });
    out.cpu_s = thread_cpu_s() - c0;
    out.wall_s = t0.elapsed().as_secs_f64();
    out
}

/// The receiver that discards: counts the body bytes it read and answers 204.
struct Receiver {
    addr: SocketAddr,
    bytes: Arc<AtomicU64>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

async fn start_receiver() -> Receiver {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binding the receiver on 127.0.0.1");
    let addr = listener.local_addr().unwrap();
    let bytes = Arc::new(AtomicU64::new(0));
    let (stop, mut stopped) = watch::channel(false);
    let counted = bytes.clone();
    let task = tokio::spawn(async move {
        loop {
            let conn = tokio::select! {
                c = listener.accept() => c,
                _ = stopped.changed() => return,
            };
            let Ok((stream, _)) = conn else { continue };
            let counted = counted.clone();
            let service = service_fn(move |req: Request<Incoming>| {
                let counted = counted.clone();
                async move {
                    let body = req.into_body().collect().await?.to_bytes();
                    counted.fetch_add(body.len() as u64, Relaxed);
                    Ok::<_, hyper::Error>(
                        Response::builder()
                            .status(StatusCode::NO_CONTENT)
                            .body(Full::new(Bytes::new()))
                            .unwrap(),
                    )
                }
            });
            tokio::spawn(async move {
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Receiver {
        addr,
        bytes,
        stop,
        task,
    }
}

/// Encodes ROUNDS rounds on a generator thread and posts them with SENDERS requests in flight;
/// the wall time runs to the last answer. `cpu_s` is the generator thread's.
async fn encode_and_send(
    model: &Model,
    rep: usize,
    protocol: Protocol,
    url: &Uri,
    poster: &Poster,
) -> Rep {
    let (tx, rx) = mpsc::channel::<Batch>(SENDERS * 2);
    let rx = Arc::new(tokio::sync::Mutex::new(rx));
    let t0 = Instant::now();
    let gen_model = model.clone();
    let generator = std::thread::spawn(move || {
        let c0 = thread_cpu_s();
        generate_protocol(&gen_model, rep, protocol, |b| {
            tx.blocking_send(b).expect("the senders stopped");
        });
        thread_cpu_s() - c0
    });
    let mut senders = Vec::new();
    for _ in 0..SENDERS {
        let (rx, url, poster) = (rx.clone(), url.clone(), poster.clone());
        senders.push(tokio::spawn(async move {
            let mut sent = Rep::default();
            loop {
                let next = rx.lock().await.recv().await;
                let Some(b) = next else { return sent };
                let answer = poster.post(&url, b.body.clone()).await.expect("posting");
                assert!(answer.status.is_success(), "receiver answered {answer:?}");
                sent.samples += b.samples;
                sent.raw_bytes += b.raw_bytes as u64;
                sent.wire_bytes += b.body.len() as u64;
            }
        }));
    }
    let mut out = Rep::default();
    for s in senders {
        let s = s.await.unwrap();
        out.samples += s.samples;
        out.raw_bytes += s.raw_bytes;
        out.wire_bytes += s.wire_bytes;
    }
    out.wall_s = t0.elapsed().as_secs_f64();
    out.cpu_s = generator.join().unwrap();
    out
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    quantile(&v, 0.5)
}

fn fmt_rate(per_s: f64) -> String {
    format!("{:.2} M", per_s / 1e6)
}

fn main() {
    let encode_only_run = std::env::args().any(|a| a == "--encode-only");
    let model = model();
    let series = model.series_count();
    let load_before = load_average();
    println!(
        "push bench: {series} series × {ROUNDS} rounds × {REPS} repetitions; load {load_before}"
    );

    // Warm-up: page-faults the buffers and tables in.
    for p in [Protocol::V1, Protocol::V2] {
        encode_only(&model, REPS, p);
    }
    let mut emit = Vec::new();
    let mut enc: [Vec<Rep>; 2] = [Vec::new(), Vec::new()];
    for rep in 0..REPS {
        emit.push(emit_only(&model, rep));
        for (i, p) in [Protocol::V1, Protocol::V2].into_iter().enumerate() {
            let r = encode_only(&model, rep, p);
            println!(
                "  encode {} rep {rep}: {} samples/s per core ({:.3} s CPU, {:.3} s wall)",
                p.as_str(),
                fmt_rate(r.per_core()),
                r.cpu_s,
                r.wall_s
            );
            enc[i].push(r);
        }
    }
    let emit_per_core = median(emit.iter().map(Rep::per_core).collect());
    println!(
        "  model emit alone: {} samples/s per core",
        fmt_rate(emit_per_core)
    );
    if encode_only_run {
        for (i, p) in [Protocol::V1, Protocol::V2].into_iter().enumerate() {
            println!(
                "encode {}: median {} samples/s per core",
                p.as_str(),
                fmt_rate(median(enc[i].iter().map(Rep::per_core).collect()))
            );
        }
        return;
    }

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (sent, received, process_cpu) = rt.block_on(async {
        let receiver = start_receiver().await;
        let url: Uri = format!("http://{}/api/v1/write", receiver.addr)
            .parse()
            .unwrap();
        let mut sent: [Vec<Rep>; 2] = [Vec::new(), Vec::new()];
        let mut process_cpu: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
        for p in [Protocol::V1, Protocol::V2] {
            encode_and_send(&model, REPS, p, &url, &Poster::new(p)).await;
        }
        for rep in 0..REPS {
            for (i, p) in [Protocol::V1, Protocol::V2].into_iter().enumerate() {
                let poster = Poster::new(p);
                let cpu0 = process_cpu_s();
                let r = encode_and_send(&model, rep, p, &url, &poster).await;
                process_cpu[i].push(process_cpu_s() - cpu0);
                println!(
                    "  send {} rep {rep}: {} samples/s ({:.3} s wall, generator {:.3} s CPU)",
                    p.as_str(),
                    fmt_rate(r.per_wall()),
                    r.wall_s,
                    r.cpu_s
                );
                sent[i].push(r);
            }
        }
        let received = receiver.bytes.load(Relaxed);
        let _ = receiver.stop.send(true);
        receiver.task.await.unwrap();
        (sent, received, process_cpu)
    });
    rt.shutdown_timeout(Duration::from_secs(5));
    let posted: u64 = sent.iter().flatten().map(|r| r.wire_bytes).sum();
    let warmups = received - posted;
    println!("  receiver read {received} bytes ({posted} measured, {warmups} warm-up)");
    let load_after = load_average();

    let mut rows = Vec::new();
    for (i, p) in [Protocol::V1, Protocol::V2].into_iter().enumerate() {
        let e = &enc[i];
        let s = &sent[i];
        let encode_core = median(e.iter().map(Rep::per_core).collect());
        let (lo, hi) = e
            .iter()
            .map(Rep::per_core)
            .fold((f64::MAX, 0.0f64), |(lo, hi), r| (lo.min(r), hi.max(r)));
        let encode_wall = median(e.iter().map(Rep::per_wall).collect());
        let send_wall = median(s.iter().map(Rep::per_wall).collect());
        let gen_busy = median(s.iter().map(|r| r.cpu_s / r.wall_s).collect());
        let proc_cpu_per_sample = median(
            s.iter()
                .zip(&process_cpu[i])
                .map(|(r, c)| c / r.samples as f64)
                .collect(),
        );
        let r = e[0];
        let raw = r.raw_bytes as f64 / r.samples as f64;
        let wire = r.wire_bytes as f64 / r.samples as f64;
        println!(
            "{}: encode {} samples/s per core, sent {} samples/s; {:.1} B/sample raw, {:.2} on the wire",
            p.as_str(),
            fmt_rate(encode_core),
            fmt_rate(send_wall),
            raw,
            wire
        );
        rows.push(format!(
            "| {} | **{}** ({:.2}–{:.2}) | {} | {} | {:.0}% | {:.2} µs | {:.1} | {:.2} | {:.1}× |",
            p.as_str(),
            fmt_rate(encode_core),
            lo / 1e6,
            hi / 1e6,
            fmt_rate(encode_wall),
            fmt_rate(send_wall),
            gen_busy * 100.0,
            proc_cpu_per_sample * 1e6,
            raw,
            wire,
            raw / wire,
        ));
    }
    let v1_core = median(enc[0].iter().map(Rep::per_core).collect());
    let target = 2e6;
    let verdict = if v1_core >= target {
        format!("met, {:.2}× the target", v1_core / target)
    } else {
        format!("not met, {:.2}× the target", v1_core / target)
    };
    let body = format!(
        "## mock-exporter push: generator throughput\n\n\
         Produced by `cargo bench --bench push` on {machine}; load average {load_before} before,\n\
         {load_after} after (1, 5, 15 min). {series} series (`--scale {SCALE}`, the exporter bench's\n\
         large page), {ROUNDS} consecutive rounds per repetition, {REPS} repetitions with the\n\
         protocols alternating; medians (per core: the repetitions' range in brackets, which\n\
         widens with the machine's other load). Requests of {BATCH_SIZE} samples (`--batch-size`).\n\n\
         - **encode**: model emit → protobuf → snappy on one thread; samples per CPU-second of\n\
         \x20 that thread (\"per core\"), and per wall second.\n\
         - **sent**: the same, posted with {SENDERS} requests in flight (`--concurrency {SENDERS}`) over\n\
         \x20 HTTP/1.1 to a hyper receiver in the same process on 127.0.0.1 that reads each body and\n\
         \x20 answers 204; wall time to the last answer, generator, client and receiver sharing the 2\n\
         \x20 cores. Generator busy: its CPU time over the wall time. CPU per sample: the whole\n\
         \x20 process (generator, client and receiver).\n\
         - **bytes per sample**: the protobuf request (uncompressed) and the snappy body (on the wire).\n\n\
         Target: at least 2 M samples/s per core for 1.0 encoding ({verdict}). The model alone\n\
         (emit into a sink that only counts) runs at {emit} samples/s per core.\n\n\
         | protocol | encode /s per core (range) | encode /s wall | sent /s wall | generator busy | process CPU per sample | B/sample uncompressed | B/sample on the wire | snappy ratio |\n\
         |---|---|---|---|---|---|---|---|---|\n{rows}\n",
        machine = machine(),
        emit = fmt_rate(emit_per_core),
        rows = rows.join("\n"),
    );
    write_section("push-bench", &body);
}
