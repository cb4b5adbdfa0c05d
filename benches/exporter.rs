//! Scrape latency, page size and throughput of mock-exporter, side by side with the same series
//! served by Python's prometheus_client, for the default page and for 100k series.
//!
//!     cargo bench --bench exporter
//!
//! Needs python3 with prometheus_client (`pip install prometheus_client`). Writes the figures to
//! docs/benchmarks.md.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use remote_write_lab::exporter::fleet::{FleetOptions, Model};

const EXPORTER: &str = env!("CARGO_BIN_EXE_mock-exporter");
const PEER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/bench/python_peer.py");

struct Figures {
    p50_ms: f64,
    p99_ms: f64,
    per_sec: f64,
    bytes: usize,
    n: usize,
}

/// Sequential scrapes by one client for `budget` (at least `min` of them).
fn measure(url: &str, min: usize, budget: Duration) -> Figures {
    let agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .new_agent();
    let fetch = || {
        agent
            .get(url)
            .call()
            .unwrap()
            .body_mut()
            .with_config()
            .limit(512 * 1024 * 1024)
            .read_to_vec()
            .unwrap()
            .len()
    };
    for _ in 0..3 {
        fetch();
    }
    let mut lat = Vec::new();
    let mut bytes = 0;
    let t0 = Instant::now();
    while lat.len() < min || t0.elapsed() < budget {
        let t = Instant::now();
        bytes = fetch();
        lat.push(t.elapsed().as_secs_f64() * 1000.0);
        if lat.len() >= min && t0.elapsed() >= budget {
            break;
        }
    }
    let total = t0.elapsed().as_secs_f64();
    let n = lat.len();
    lat.sort_by(|a, b| a.partial_cmp(b).unwrap());
    Figures {
        p50_ms: quantile(&lat, 0.5),
        p99_ms: quantile(&lat, 0.99),
        per_sec: n as f64 / total,
        bytes,
        n,
    }
}

fn main() {
    let peer_version = python_peer_version();
    let rows: Vec<String> = [
        ("default page (1 host)", 1u32),
        ("100k series (--scale 112)", 112),
    ]
    .into_iter()
    .map(|(label, scale)| bench_page(label, scale))
    .collect();
    let body = format!(
        "## mock-exporter scrape latency\n\n\
         Produced by `cargo bench --bench exporter` on {}. One client scrapes sequentially; the same\n\
         series (the page saved from mock-exporter) are served by Python's `prometheus_client`\n\
         (`generate_latest` per scrape, its threaded HTTP server; {}) on the same machine in the same run.\n\
         Latency is to the last byte of the body.\n\n\
         | page | series | server | bytes | p50 ms | p99 ms | scrapes/s | scrapes |\n|---|---|---|---|---|---|---|---|\n{}\n",
        machine(),
        peer_version,
        rows.join("\n")
    );
    write_section("exporter-bench", &body);
}

/// Exits unless python3 has prometheus_client; names the versions of both.
fn python_peer_version() -> String {
    let python = Command::new("python3")
        .args(["-c", "import prometheus_client"])
        .status();
    if !matches!(python, Ok(s) if s.success()) {
        eprintln!("exporter bench: python3 with prometheus_client is needed: pip install prometheus_client");
        std::process::exit(1);
    }
    Command::new("python3")
        .args(["-c", "import sys, importlib.metadata as m; print(f'Python {sys.version.split()[0]}, prometheus_client {m.version(\"prometheus_client\")}')"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

fn fleet(scale: u32) -> Model {
    Model::new(FleetOptions {
        scale: scale as usize,
        ..FleetOptions::default()
    })
}

/// Starts mock-exporter with `scale` hosts; returns it and its /metrics URL once it is ready.
fn start_exporter(scale: u32) -> (Proc, String) {
    let port = free_port();
    let exporter = spawn(Command::new(EXPORTER).args([
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--scale",
        &scale.to_string(),
    ]));
    wait_ok(
        &format!("http://127.0.0.1:{port}/healthz"),
        Duration::from_secs(30),
    );
    (exporter, format!("http://127.0.0.1:{port}/metrics"))
}

/// Saves the page at `url` and starts the Python peer serving it; returns the peer and its URL.
fn start_peer(url: &str, scale: u32) -> (Proc, String) {
    let page = ureq::get(url)
        .call()
        .unwrap()
        .body_mut()
        .with_config()
        .limit(512 * 1024 * 1024)
        .read_to_string()
        .unwrap();
    let file = std::env::temp_dir().join(format!("rwlab-bench-page-{scale}.txt"));
    std::fs::write(&file, &page).unwrap();
    let port = free_port();
    let peer = spawn(Command::new("python3").args([
        PEER,
        "--page",
        file.to_str().unwrap(),
        "--port",
        &port.to_string(),
    ]));
    let url = format!("http://127.0.0.1:{port}/metrics");
    wait_ok(&url, Duration::from_secs(60));
    (peer, url)
}

/// Milliseconds to render one page of `scale` hosts: the exporter's cost per second.
fn render_ms(scale: u32) -> f64 {
    let model = fleet(scale);
    let t = Instant::now();
    let renders = 5;
    for i in 0..renders {
        std::hint::black_box(remote_write_lab::exporter::exposition::render(
            &model,
            1_795_700_000 + i,
        ));
    }
    t.elapsed().as_secs_f64() * 1000.0 / renders as f64
}

/// Measures both servers on the page of `scale` hosts; returns its rows of the table.
fn bench_page(label: &str, scale: u32) -> String {
    let series = fleet(scale).series_count();
    let (_exporter, url) = start_exporter(scale);
    let (_peer, purl) = start_peer(&url, scale);
    let (min, budget) = if scale == 1 {
        (2000, Duration::from_secs(5))
    } else {
        (30, Duration::from_secs(10))
    };
    let rust = measure(&url, min, budget);
    let py = measure(&purl, min.min(200) / if scale == 1 { 1 } else { 3 }, budget);
    // The exporter renders one page per second in the background; its cost per page:
    let render_ms = render_ms(scale);
    println!(
        "{label}: {series} series; mock-exporter p50 {:.3} ms p99 {:.3} ms {:.0}/s; prometheus_client p50 {:.3} ms p99 {:.3} ms {:.1}/s; ratio {:.1}x; render {render_ms:.1} ms",
        rust.p50_ms, rust.p99_ms, rust.per_sec, py.p50_ms, py.p99_ms, py.per_sec, rust.per_sec / py.per_sec
    );
    format!(
        "| {label} | {series} | mock-exporter | {} | {:.3} | {:.3} | {:.0} | {} |\n| | | prometheus_client | {} | {:.3} | {:.3} | {:.1} | {} |\n| | | **ratio** | | **{:.1}× faster** | **{:.1}× faster** | **{:.1}×** | render in background: {render_ms:.1} ms per page |",
        rust.bytes, rust.p50_ms, rust.p99_ms, rust.per_sec, rust.n,
        py.bytes, py.p50_ms, py.p99_ms, py.per_sec, py.n,
        py.p50_ms / rust.p50_ms, py.p99_ms / rust.p99_ms, rust.per_sec / py.per_sec,
    )
}
